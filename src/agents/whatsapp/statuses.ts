/**
 * Delivery states of the messages we sent (table `channel_deliveries`, migration 20). Status webhooks arrive
 * out of order and more than once; the rank makes every update monotonic: sent < delivered < read, and failed
 * is final. A `failed` status keeps its error (code, title, details). No model is ever involved.
 *
 * Every send carries its send-ledger key as `biz_opaque_callback_data`, which Graph echoes in the message's
 * status webhooks: a send whose outcome is unknown (the agent died between its intent and its outcome, or the
 * connection dropped or timed out after the request left) is settled from them (`settleSend`) instead of being
 * skipped or sent again blind.
 *
 * @module
 */
import type { OutboundReply } from "../../bus/envelopes.ts";
import { rebasedIntent } from "../../bus/ledger.ts";
import type { Settled } from "../channel/outcome.ts";
import type { Client, InStatement } from "../../store/mod.ts";
import { recipientOf, type WaStatus } from "./payload.ts";

const RANK: Record<string, number> = { accepted: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

export function statusRank(status: string): number {
  return RANK[status] ?? 0;
}

/**
 * Applies one status webhook entry; older or equal states never overwrite newer ones. The send-ledger key it
 * carries is kept whatever its rank: a newer status that came first without it must not hide it. So is the time of
 * a `delivered` or `read` status (`delivered_at`): the user has the message, even when Meta also failed it. A status
 * naming a send-ledger key that is gone (the chat was forgotten: `aideazz forget`) records nothing.
 */
export function recordStatus(agent: string, s: WaStatus, now: number): InStatement {
  const error = s.errors?.[0];
  return {
    sql: `INSERT INTO channel_deliveries
        (agent, message_id, chat_id, reply_key, status, rank, status_at, error_code, error_title, error_detail,
          updated_at, delivered_at)
      SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
      WHERE ?4 IS NULL OR EXISTS (SELECT 1 FROM bus_send_ledger WHERE reply_key = ?4)
      ON CONFLICT (agent, message_id) DO UPDATE SET
        reply_key = coalesce(reply_key, excluded.reply_key),
        delivered_at = coalesce(delivered_at, excluded.delivered_at),
        status = iif(excluded.rank > rank, excluded.status, status),
        rank = max(rank, excluded.rank),
        status_at = iif(excluded.rank > rank, excluded.status_at, status_at),
        error_code = iif(excluded.rank > rank, coalesce(excluded.error_code, error_code), error_code),
        error_title = iif(excluded.rank > rank, coalesce(excluded.error_title, error_title), error_title),
        error_detail = iif(excluded.rank > rank, coalesce(excluded.error_detail, error_detail), error_detail),
        updated_at = iif(excluded.rank > rank, excluded.updated_at, updated_at)
      WHERE excluded.rank > channel_deliveries.rank
        OR (channel_deliveries.reply_key IS NULL AND excluded.reply_key IS NOT NULL)
        OR (channel_deliveries.delivered_at IS NULL AND excluded.delivered_at IS NOT NULL)`,
    args: [
      agent,
      s.id,
      recipientOf(s),
      s.biz_opaque_callback_data ?? null,
      s.status,
      statusRank(s.status),
      Number(s.timestamp) * 1000,
      error?.code ?? null,
      error?.title ?? error?.message ?? null,
      error?.error_data?.details ?? null,
      now,
      s.status === "delivered" || s.status === "read" ? Number(s.timestamp) * 1000 : null,
    ],
  };
}

/** Of send-ledger keys `keys`, those whose row is gone: the chat was forgotten (`aideazz forget`), or retention purged it. */
export async function goneSends(client: Client, keys: string[]): Promise<Set<string>> {
  const rs = await client.execute({
    sql: `SELECT value FROM json_each(?1) WHERE NOT EXISTS (SELECT 1 FROM bus_send_ledger WHERE reply_key = value)`,
    args: [JSON.stringify(keys)],
  });
  return new Set(rs.rows.map((r) => String(r[0])));
}

/** The reply key of the template sent instead of a reply: the reply's, with this after it. */
export const TEMPLATE_SUFFIX = ":template";

/**
 * The template to send for a reply Meta accepted and then failed with 131047 (the 24-hour window had closed at Meta,
 * though not by our clock): one outbound reply per failed reply, whichever of its parts failed and however often
 * Meta posts the status (its idempotency key and ledger key follow the reply's); egress sends one template per
 * closed window (send.ts). Undefined for other statuses, for a status without our send-ledger key
 * (`<replyKey>#<part>`), and for the template's own.
 */
export function templateAfterRefusal(
  agent: string,
  s: WaStatus,
): { reply: OutboundReply; idempotencyKey: string } | undefined {
  if (s.status !== "failed" || s.errors?.[0]?.code !== 131047) return undefined;
  const part = /^(.+)#\d+$/.exec(s.biz_opaque_callback_data ?? "");
  const replyKey = part && `${part[1]}${TEMPLATE_SUFFIX}`;
  if (!replyKey || part[1]!.endsWith(TEMPLATE_SUFFIX) || replyKey.length > 200) return undefined;
  return statusReply(agent, s, replyKey, { template: { refusedAt: Number(s.timestamp) * 1000 } });
}

/**
 * A reply a status makes (a template after 131047, a resend after a temporary failure): no text of its own (egress
 * finds what to send), to the status's recipient, with its idempotency key following `replyKey`.
 */
export function statusReply(
  agent: string,
  s: WaStatus,
  replyKey: string,
  what: Pick<OutboundReply, "template" | "resend">,
): { reply: OutboundReply; idempotencyKey: string } {
  const reply: OutboundReply = {
    agent,
    chatId: recipientOf(s),
    text: "",
    inReplyTo: [],
    replyKey,
    kind: "answer",
    ...what,
  };
  return { reply, idempotencyKey: `whatsapp:${agent}:${replyKey}` };
}

/** Records a message we just sent (state `accepted`), linking its wamid to the reply; statuses may come first. */
export function recordAccepted(
  agent: string,
  messageId: string,
  chatId: string,
  replyKey: string,
  now: number,
): InStatement {
  return {
    sql:
      `INSERT INTO channel_deliveries (agent, message_id, chat_id, reply_key, status, rank, status_at, updated_at)
      VALUES (?, ?, ?, ?, 'accepted', 0, ?, ?)
      ON CONFLICT (agent, message_id) DO UPDATE SET reply_key = excluded.reply_key`,
    args: [agent, messageId, chatId, replyKey, now, now],
  };
}

/**
 * Statuses of other messages stored from BACK_AFTER_MS after an unknown send's intent to half its status wait
 * (`whatsapp.statusWaitS`, 90 s of the default 180 s) show that the agent was back and taking webhooks soon after it
 * died (a restart takes seconds): Meta's early, frequent retries of this send's status (Meta retries a webhook it
 * could not deliver, with growing delays) then had at least half the wait to reach it.
 */
const BACK_AFTER_MS = 10_000;

/** The end of that window after the intent, for a status wait of `waitMs`. */
export function backByMs(waitMs: number): number {
  return waitMs / 2;
}

const BY_KEY = "SELECT message_id FROM channel_deliveries WHERE agent = ?1 AND reply_key = ?2 LIMIT 1";
const BACK = `SELECT 1 FROM channel_deliveries WHERE updated_at > ?2 AND updated_at <= ?3 AND agent = ?1 AND rank >= 1
  LIMIT 1`;

/**
 * Settles send `key`, whose intent (at `since`) has no outcome, from the delivery states, waiting up to `waitMs`
 * (`whatsapp.statusWaitS`) for its status:
 * - a row for the key (our `accepted` record, or a status webhook) → it was sent, as that wamid;
 * - none yet, less than `waitMs` after the intent → wait: its status may be on the way;
 * - none after that, while statuses of other messages were stored from 10 s to half the wait after the intent
 *   (rows last updated then: one upgraded since no longer counts, which only makes the rule stricter) → it never
 *   reached Graph: send it (a status Meta holds back past the wait makes it a duplicate);
 * - none, and no status in that window → unknown: at most once. Either the outage was long (Meta's retries of
 *   its status may be hours apart by now, and statuses arriving after it prove nothing) or nothing else was sent.
 * - none, for an intent the ledger re-based (the clock stepped back after it) → unknown too, whatever other
 *   statuses came: `since` is when the step was noticed, so the wait counts from there, but how long the agent was
 *   down before is unknown.
 */
export async function settleSend(
  client: Client,
  { agent, waitMs }: { agent: string; waitMs: number },
  key: string,
  since: number,
  now: number,
): Promise<Settled> {
  const [mine, back, rebased] = await client.batch([
    { sql: BY_KEY, args: [agent, key] },
    { sql: BACK, args: [agent, since + BACK_AFTER_MS, since + backByMs(waitMs)] },
    rebasedIntent(key),
  ], "read");
  const row = mine!.rows[0];
  if (row) return { sent: String(row["message_id"]) };
  if (now - since < waitMs) return "wait";
  return back!.rows.length > 0 && rebased!.rows.length === 0 ? "not-sent" : "unknown";
}
