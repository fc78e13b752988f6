/**
 * Sending again a message Graph accepted (a wamid came back) and Meta then failed in its status webhook with a
 * temporary error (errors.ts: 131000, 2, 131016, 133004 for the chat; 4, 80007, 130429, 131057, 131048 for every
 * chat; 131056 for the user). Ingress publishes the resend with the status, like the template after 131047: one
 * outbound reply per failed send (reply key `<part>:resend<k>`, its idempotency key from it), so Meta posting the
 * status twice, or to a restarted agent, publishes it once. It is due after the back-off the send path would wait
 * for the same error. At most MAX_RESENDS per part; then, or for a never-retried code, nothing is sent.
 *
 * Egress finds the part's text in the original reply's bus message (kept under its idempotency key for the dedup
 * window, 8 days) and sends it, unless Meta also reported the failed send delivered or read (statuses come out of
 * order, before or after the `failed` one: the user has it), or a later message of the chat went out after the failed
 * one: every other retry keeps the chat's order (the chat's later replies wait behind it), and this one could no
 * longer. Nor is a part sent again when an earlier part of its reply failed too (Meta's limits fail consecutive
 * sends): that one is not sent again (a later part went out after it), and the rest of a reply alone makes no sense.
 *
 * @module
 */
import { type OutboundReply, replyIdempotencyKey } from "../../bus/envelopes.ts";
import type { Client } from "../../store/mod.ts";
import { partKey } from "../channel/egress.ts";
import { isAccountBlocked, isAuthError, toGraphOutcome } from "./errors.ts";
import type { WaStatus } from "./payload.ts";
import { statusReply, TEMPLATE_SUFFIX } from "./statuses.ts";

/** Resends of one part at most: after that a failed status is the end of it. */
export const MAX_RESENDS = 3;

export type Resend =
  | {
    kind: "resend";
    reply: OutboundReply;
    idempotencyKey: string;
    notBefore: number;
    /** Who waits for the back-off: this chat, or every chat (a limit of the business number). */
    scope: "chat" | "all";
    code: number;
  }
  | { kind: "gave-up"; reason: string; code: number; key: string };

const SENT_PART = /^(.+)#(\d+)$/;
const RESENT = /^(.+#\d+):resend(\d+)$/;

/**
 * What to do about status `s`: a resend of the part it names (`biz_opaque_callback_data`), giving up, or nothing
 * (not failed, not temporary, not our send, a template's).
 */
export function resendAfterFailure(agent: string, s: WaStatus, now: number): Resend | undefined {
  const error = s.errors?.[0];
  if (s.status !== "failed" || error === undefined) return undefined;
  const key = s.biz_opaque_callback_data ?? "";
  const sent = SENT_PART.exec(key);
  if (!sent || sent[1]!.endsWith(TEMPLATE_SUFFIX)) return undefined;
  const code = error.code;
  const earlier = RESENT.exec(sent[1]!);
  const done = earlier ? Number(earlier[2]) : 0;
  const outcome = toGraphOutcome({ ok: false, status: 400, error }, done + 1, undefined);
  if (outcome.kind !== "retry" || isAuthError(code) || isAccountBlocked(code)) return undefined;
  if (done >= MAX_RESENDS) return { kind: "gave-up", reason: `${MAX_RESENDS} resends failed`, code, key };
  const part = earlier ? earlier[1]! : key;
  const replyKey = `${part}:resend${done + 1}`;
  if (replyKey.length > 200) {
    return { kind: "gave-up", reason: "its reply key is too long to send it again", code, key };
  }
  return {
    kind: "resend",
    ...statusReply(agent, s, replyKey, { resend: { part, failed: key } }),
    notBefore: now + outcome.afterMs,
    scope: outcome.scope,
    code,
  };
}

const TEXT = "SELECT payload ->> '$.text' AS text FROM bus_messages WHERE idem_key = ?1";
/** Meta also said the failed send was delivered or read (statuses come out of order): the user has it. */
const DELIVERED = `SELECT 1 FROM channel_deliveries WHERE agent = ?1 AND reply_key = ?2 AND delivered_at IS NOT NULL
  LIMIT 1`;
/** A message of the chat sent (ledger `sent`, by its intent's time) after the failed one, the resend's own aside. */
const LATER = `SELECT 1 FROM bus_send_ledger f
  JOIN bus_send_ledger l ON l.started_at > f.started_at AND l.state = 'sent' AND l.reply_key <> ?4
  JOIN channel_deliveries d ON d.agent = ?1 AND d.reply_key = l.reply_key
  WHERE f.reply_key = ?3 AND d.chat_id = ?2
  LIMIT 1`;

/** An earlier part of the reply (?2 their send-ledger keys) failed too, and Meta never said it was delivered. */
const EARLIER_FAILED = `SELECT 1 FROM channel_deliveries WHERE agent = ?1 AND reply_key IN (SELECT value FROM json_each(?2))
  AND status = 'failed' AND delivered_at IS NULL
  LIMIT 1`;

/** The text of the reply a resend names and its part's index, or why it is not sent again. */
export async function resendSource(
  client: Client,
  agent: string,
  reply: OutboundReply & { resend: { part: string; failed: string } },
): Promise<{ text: string; index: number } | { skipped: string }> {
  const [, replyKey, index] = SENT_PART.exec(reply.resend.part) ?? [];
  const earlier = Array.from({ length: Number(index) }, (_, i) => partKey(replyKey ?? "", i));
  const [text, later, delivered, earlierFailed] = await client.batch([
    { sql: TEXT, args: [replyIdempotencyKey(replyKey ?? "")] },
    { sql: LATER, args: [agent, reply.chatId, reply.resend.failed, partKey(reply.replyKey, 0)] },
    { sql: DELIVERED, args: [agent, reply.resend.failed] },
    { sql: EARLIER_FAILED, args: [agent, JSON.stringify(earlier)] },
  ], "read");
  if (delivered!.rows.length > 0) return { skipped: "not sent again: Meta reported it delivered" };
  if (earlierFailed!.rows.length > 0) {
    return { skipped: "not sent again: an earlier part of its reply failed too; it would arrive without it" };
  }
  if (later!.rows.length > 0) {
    return { skipped: "not sent again: later messages of the chat went out since; it would arrive out of order" };
  }
  const found = text!.rows[0]?.["text"];
  if (typeof found !== "string") return { skipped: "not sent again: the reply's text is no longer stored" };
  return { text: found, index: Number(index) };
}
