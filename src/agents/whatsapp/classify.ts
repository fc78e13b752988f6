/**
 * Turns one verified WhatsApp webhook into one ingress batch: every message of every entry and change (text,
 * interactive replies, captions, non-text) for the orchestrator with key `whatsapp:<wamid>`, stale messages
 * recorded, every contact's last inbound time (the 24 h window), delivery statuses — which never reach
 * the orchestrator (a reply Meta failed with 131047 gets the configured template instead, one failed with a
 * temporary error is sent again: resend.ts) — and errors Meta reports for a whole change. Pure: the clock and
 * settings come in, a batch goes out.
 *
 * @module
 */
import { touchInbound } from "../channel/contacts.ts";
import { addNonText, addText, isBlank, type InboundBase, type NonTextPolicy } from "../channel/inbound.ts";
import { emptyBatch, type IngressBatch } from "../channel/ingress.ts";
import { isStale, recordSkipped } from "../channel/skipped.ts";
import {
  contactSchema,
  errorSchema,
  messageSchema,
  senderOf,
  statusSchema,
  valueSchema,
  type WaError,
  type WaMessage,
  type WaStatus,
  type WaWebhook,
} from "./payload.ts";
import { type Resend, resendAfterFailure } from "./resend.ts";
import { recordStatus, templateAfterRefusal } from "./statuses.ts";

/** What classifying needs of the WhatsApp agent that owns a number. */
export interface WaNumber {
  agent: string;
  staleAfterMs: number;
  /** Non-text messages: published for the orchestrator's polite answer, or recorded as ignored. */
  nonText: NonTextPolicy;
  /** A template is configured: a reply failed with 131047 after Graph accepted it gets it instead. */
  template: boolean;
}

export interface WaClassifyContext extends WaNumber {
  phoneNumberId: string;
  now: number;
  /**
   * The other configured WhatsApp agents by phone number id. Meta posts every number of an app to the app's one
   * callback URL (unless an override is set): their changes are stored as theirs, answered from their number.
   */
  others?: ReadonlyMap<string, WaNumber>;
  /**
   * Send-ledger keys whose row is gone (`goneSends`: the chat was forgotten, or retention purged it): a `failed`
   * status naming one queues neither the template nor a resend.
   */
  gone?: ReadonlySet<string>;
}

export interface WaClassified {
  batch: IngressBatch;
  /** Per chat, the newest message the orchestrator will answer: mark it read (and show typing). */
  markRead: Map<string, string>;
  messages: number;
  statuses: number;
  /** `failed` statuses: a message Graph accepted and then could not deliver (131026, 131047, … after the send). */
  failed: WaStatus[];
  /** What the `failed` statuses with a temporary error call for: a resend, published with the batch, or giving up. */
  resends: Resend[];
  /** Errors Meta reported for a whole change (`value.errors`), not for one message, with the agent of its number. */
  errors: { agent: string; error: WaError }[];
  /** Changes for another field, and entries we could not read. */
  ignored: number;
  /** Phone number ids of changes that no configured agent owns (ignored too). */
  unknownNumbers: Set<string>;
}

export function messageKey(wamid: string): string {
  return `whatsapp:${wamid}`;
}

/**
 * What Meta sends as `type: "unsupported"` for a user's action on the chat, not a message: a reaction, a poll vote,
 * a pin, "keep in chat".
 */
const USER_ACTIONS = new Set(["reaction", "poll_update", "pin", "keep_in_chat"]);

/** Meta's error for a message it could not make available (a Coexistence number's first message from a user). */
const UNAVAILABLE = 131060;

/** The media a captioned message came with (the caption is its text), or undefined. */
function attachmentOf(m: WaMessage): string | undefined {
  return m.type === "image" || m.type === "video" || m.type === "document" ? m.type : undefined;
}

/** The text a message carries, or undefined for non-text (stickers, audio, locations, …). */
export function messageText(m: WaMessage): string | undefined {
  switch (m.type) {
    case "text":
      return m.text?.body;
    case "interactive":
      return m.interactive?.button_reply?.title ?? m.interactive?.list_reply?.title;
    case "button":
      return m.button?.text;
    case "image":
    case "video":
    case "document":
      // The caption is the user's question; the media itself is not read.
      return m[m.type]?.caption;
    case "order":
      return m.order?.text;
    default:
      return undefined;
  }
}

function classifyMessage(
  out: WaClassified,
  ctx: WaNumber & { now: number },
  m: WaMessage,
  names: Map<string, string>,
  own: boolean,
): void {
  const { batch } = out;
  const chatId = senderOf(m);
  const sentAt = Number(m.timestamp) * 1000;
  const skip = (reason: "stale" | "ignored", detail = m.type) =>
    batch.rows.push(recordSkipped(ctx.agent, { platformId: m.id, chatId, reason, detail, sentAt }, ctx.now));
  // Meta's own notice that the user changed number or id: nobody wrote, and the 24-hour window stays as it was.
  if (m.type === "system") return void skip("ignored");
  batch.rows.push(touchInbound(ctx.agent, chatId, sentAt, ctx.now, messageKey(m.id)));
  if (isStale(sentAt, ctx.now, ctx.staleAfterMs)) return void skip("stale");
  // A reaction, or a message of before edited or deleted (Coexistence numbers): recorded, not answered, as Telegram's
  // edits are; the non-text notice would answer a correction or a deleted message.
  if (m.type === "reaction" || m.type === "edit" || m.type === "revoke") return void skip("ignored");
  // The same actions passed on as `unsupported` (a reaction, a poll vote, a pin): nobody asked anything either.
  const action = m.type === "unsupported" ? m.unsupported?.type : undefined;
  if (action !== undefined && USER_ACTIONS.has(action)) return void skip("ignored", `unsupported:${action}`);
  // A message Meta could not make available, often a typed question: the "text only" notice would tell the user
  // they sent something else. Recorded; the conversation starts with their next message.
  if (m.errors?.some((e) => errorSchema.safeParse(e).data?.code === UNAVAILABLE)) {
    return void skip("ignored", "unavailable");
  }
  const key = messageKey(m.id);
  const name = names.get(chatId);
  const base: InboundBase = {
    channel: "whatsapp",
    agent: ctx.agent,
    chatId,
    userId: chatId,
    platformId: m.id,
    sentAt,
    receivedAt: ctx.now,
    ...(name !== undefined ? { userName: name } : {}),
  };
  // The user opened the chat for the first time and wrote nothing yet: greeted, as Telegram's /start is.
  if (m.type === "request_welcome") return void addText(batch, base, key, "/start");
  const text = messageText(m);
  if (text === undefined || isBlank(text)) {
    if (addNonText(batch, base, key, m.type, ctx.nonText, ctx.now) && own) out.markRead.set(chatId, m.id);
  } else {
    addText(batch, base, key, text, attachmentOf(m));
    if (own) out.markRead.set(chatId, m.id);
  }
}

/** A message whose shape we do not know is recorded (when it has an id) so it is never silently dropped. */
function recordUnreadable(out: WaClassified, ctx: WaNumber & { now: number }, raw: unknown): void {
  const r = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  if (typeof r["id"] !== "string") return;
  // Whole milliseconds (the column is an INTEGER): a timestamp that gives none is the receive time.
  const sentMs = typeof r["timestamp"] === "string" ? Number(r["timestamp"]) * 1000 : NaN;
  const skipped = {
    platformId: r["id"],
    chatId: [r["from"], r["from_user_id"]].find((v) => typeof v === "string") ?? "",
    reason: "ignored" as const,
    detail: "unreadable",
    sentAt: Number.isSafeInteger(sentMs) && sentMs > 0 ? sentMs : ctx.now,
  };
  out.batch.rows.push(recordSkipped(ctx.agent, skipped, ctx.now));
}

/** Classifies a whole webhook: all entries, all changes, all messages and statuses, in payload order. */
export function classifyWebhook(payload: WaWebhook, ctx: WaClassifyContext): WaClassified {
  const out: WaClassified = {
    batch: emptyBatch(),
    markRead: new Map(),
    messages: 0,
    statuses: 0,
    failed: [],
    resends: [],
    errors: [],
    ignored: 0,
    unknownNumbers: new Set(),
  };
  for (const entry of payload.entry) {
    for (const change of entry.changes) {
      const value = change.field === "messages" ? valueSchema.safeParse(change.value) : undefined;
      if (!value?.success) {
        out.ignored++;
        continue;
      }
      const id = value.data.metadata.phone_number_id;
      const own = id === ctx.phoneNumberId;
      const number = own ? ctx : ctx.others?.get(id);
      if (number === undefined) {
        out.ignored++;
        out.unknownNumbers.add(id);
        continue;
      }
      const c = { ...number, now: ctx.now };
      // A user's name under each id a message may name them by: phone number and BSUID.
      const names = new Map((value.data.contacts ?? []).flatMap((raw) => {
        const c = contactSchema.safeParse(raw);
        const name = c.success ? c.data.profile?.name : undefined;
        if (!c.success || !name) return [];
        return [c.data.wa_id, c.data.user_id].flatMap((id) => (id ? [[id, name] as const] : []));
      }));
      for (const raw of value.data.messages ?? []) {
        const m = messageSchema.safeParse(raw);
        if (!m.success) {
          out.ignored++;
          recordUnreadable(out, c, raw);
          continue;
        }
        out.messages++;
        classifyMessage(out, c, m.data, names, own);
      }
      for (const raw of value.data.statuses ?? []) {
        const s = statusSchema.safeParse(raw);
        if (!s.success) {
          out.ignored++;
          continue;
        }
        out.statuses++;
        out.batch.rows.push(recordStatus(c.agent, s.data, c.now));
        if (s.data.status !== "failed") continue;
        out.failed.push(s.data);
        if (ctx.gone?.has(s.data.biz_opaque_callback_data ?? "")) continue;
        const instead = c.template ? templateAfterRefusal(c.agent, s.data) : undefined;
        if (instead) out.batch.outbound.push(instead);
        const resend = resendAfterFailure(c.agent, s.data, c.now);
        if (resend) out.resends.push(resend);
        if (resend?.kind === "resend") out.batch.outbound.push(resend);
      }
      for (const raw of value.data.errors ?? []) {
        const e = errorSchema.safeParse(raw);
        if (e.success) out.errors.push({ agent: c.agent, error: e.data });
        else out.ignored++;
      }
    }
  }
  return out;
}
