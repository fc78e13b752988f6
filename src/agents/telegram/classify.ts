/**
 * Turns Telegram updates into one ingress batch: text, commands and non-text for the orchestrator (which answers
 * all of them, see channel/inbound.ts), stale and ignored updates recorded, blocks and unblocks
 * (`my_chat_member`) applied to the contact, a group's upgrade to a supergroup recorded (moves.ts). Pure: the
 * clock and settings come in, a batch goes out.
 *
 * @module
 */
import { markActive, markInactive, touchInbound } from "../channel/contacts.ts";
import { addNonText, addText, isBlank, type InboundBase, type NonTextPolicy } from "../channel/inbound.ts";
import { emptyBatch, type IngressBatch } from "../channel/ingress.ts";
import { isStale, recordSkipped } from "../channel/skipped.ts";
import { recordChatMove } from "./moves.ts";
import { chatKeyOf, contentKind, type TelegramMessage, type TelegramUpdate } from "./update.ts";

export interface ClassifyContext {
  agent: string;
  now: number;
  staleAfterMs: number;
  /** Non-text messages: published for the orchestrator's polite answer, or recorded as ignored. */
  nonText: NonTextPolicy;
  /** This bot's username (getMe): `/cmd@other_bot` in a group is for another bot. Unknown: every command is ours. */
  botUsername?: string;
}

/** True for a command addressed to a bot other than `botUsername` (`/help@other_bot`). */
function forAnotherBot(text: string, botUsername: string | undefined): boolean {
  const to = /^\/[A-Za-z0-9_]+@([A-Za-z0-9_]+)/.exec(text.trim())?.[1];
  return to !== undefined && botUsername !== undefined && to.toLowerCase() !== botUsername.toLowerCase();
}

export interface Classified {
  batch: IngressBatch;
  /** Chats whose message the orchestrator will answer: show "typing…" there. */
  typing: string[];
}

/** The idempotency key of an update: update_id is unique per bot (dedup by membership, never by order). */
export function updateKey(agent: string, updateId: number): string {
  return `telegram:${agent}:${updateId}`;
}

function classifyMessage(out: Classified, ctx: ClassifyContext, updateId: number, m: TelegramMessage): void {
  const { batch } = out;
  const chatId = chatKeyOf(m);
  const platformId = String(updateId);
  const sentAt = m.date * 1000;
  const kind = contentKind(m);
  // Joins, leaves, pins (which bots get in groups whatever their privacy mode), a linked channel's posts copied into
  // its group, a command addressed to another bot (in a text or a caption), and another bot's message (bot-to-bot
  // replies: two AI bots would answer each other for ever; anonymous admins and channels come with `sender_chat`):
  // nobody asked us anything. Recorded, not answered.
  const command = m.text ?? m.caption;
  const other = command !== undefined && forAnotherBot(command, ctx.botUsername);
  const bot = m.from?.is_bot === true && m.sender_chat === undefined;
  if (kind === "service" || m.is_automatic_forward === true || other || bot) {
    const detail = kind === "service"
      ? "service"
      : other
      ? "command for another bot"
      : bot
      ? "another bot's message"
      : "automatic_forward";
    batch.rows.push(recordSkipped(ctx.agent, { platformId, chatId, reason: "ignored", detail, sentAt }, ctx.now));
    // A group upgraded to a supergroup: its messages come with the supergroup's id from now on (moves.ts).
    const [from, to] = m.migrate_to_chat_id !== undefined
      ? [m.chat.id, m.migrate_to_chat_id]
      : [m.migrate_from_chat_id, m.chat.id];
    if (from !== undefined) batch.rows.push(recordChatMove(String(from), String(to)));
    return;
  }
  batch.rows.push(touchInbound(ctx.agent, chatId, sentAt, ctx.now, updateKey(ctx.agent, updateId)));
  if (isStale(sentAt, ctx.now, ctx.staleAfterMs)) {
    batch.rows.push(
      recordSkipped(ctx.agent, { platformId, chatId, reason: "stale", detail: kind, sentAt }, ctx.now),
    );
    return;
  }
  // Media with a caption: the caption is the user's question, sent with the media's kind (the model and an operator
  // are told a photo came with it). Without one there is nothing to answer.
  const text = m.text ?? m.caption;
  const attachment = m.text === undefined ? kind : undefined;
  const key = updateKey(ctx.agent, updateId);
  const userName = m.sender_chat ? m.sender_chat.title : m.from?.first_name;
  const base: InboundBase = {
    channel: "telegram",
    agent: ctx.agent,
    chatId,
    // Sent on behalf of a chat, `from` is a fake user every such sender in every group shares: the chat is the user.
    userId: String(m.sender_chat?.id ?? m.from?.id ?? m.chat.id),
    platformId,
    sentAt,
    receivedAt: ctx.now,
    // The name an operator's notice shows: the sending chat's title, not the fake user's "Group" or "Channel".
    ...(userName !== undefined ? { userName } : {}),
  };
  if (text === undefined || isBlank(text)) {
    if (addNonText(batch, base, key, kind, ctx.nonText, ctx.now)) out.typing.push(chatId);
  } else {
    addText(batch, base, key, text, attachment);
    out.typing.push(chatId);
  }
}

/** Classifies a batch of updates (one webhook call, or one getUpdates result). */
export function classifyUpdates(updates: readonly TelegramUpdate[], ctx: ClassifyContext): Classified {
  const out: Classified = { batch: emptyBatch(), typing: [] };
  for (const u of updates) {
    const platformId = String(u.update_id);
    if (u.message) {
      classifyMessage(out, ctx, u.update_id, u.message);
    } else if (u.my_chat_member && u.my_chat_member.chat.type === "private") {
      const chatId = String(u.my_chat_member.chat.id);
      const status = u.my_chat_member.new_chat_member.status;
      const at = u.my_chat_member.date * 1000;
      if (status === "kicked") out.batch.rows.push(markInactive(ctx.agent, chatId, "blocked the bot", at));
      else if (status === "member") out.batch.rows.push(markActive(ctx.agent, chatId, at));
    } else {
      // Edits, channel posts and kinds we never asked for: recorded, not answered.
      const m = u.edited_message ?? u.channel_post ?? u.edited_channel_post;
      const detail = Object.keys(u).find((k) => k !== "update_id") ?? "empty";
      const skipped = {
        platformId,
        chatId: m ? chatKeyOf(m) : "",
        reason: "ignored" as const,
        detail,
        sentAt: m ? m.date * 1000 : ctx.now,
      };
      out.batch.rows.push(recordSkipped(ctx.agent, skipped, ctx.now));
    }
  }
  return out;
}
