/**
 * Delivery states of the messages we sent (table `channel_deliveries`, migration 20). Status webhooks arrive
 * out of order and more than once; the rank makes every update monotonic: sent < delivered < read, and failed
 * is final. A `failed` status keeps its error (code, title, details). No model is ever involved.
 *
 * @module
 */
import type { InStatement } from "../../store/mod.ts";
import type { WaStatus } from "./payload.ts";

const RANK: Record<string, number> = { accepted: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

export function statusRank(status: string): number {
  return RANK[status] ?? 0;
}

/** Applies one status webhook entry; older or equal states never overwrite newer ones. */
export function recordStatus(agent: string, s: WaStatus, now: number): InStatement {
  const error = s.errors?.[0];
  return {
    sql: `INSERT INTO channel_deliveries
        (agent, message_id, chat_id, status, rank, status_at, error_code, error_title, error_detail, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (agent, message_id) DO UPDATE SET
        status = excluded.status, rank = excluded.rank, status_at = excluded.status_at,
        error_code = coalesce(excluded.error_code, error_code),
        error_title = coalesce(excluded.error_title, error_title),
        error_detail = coalesce(excluded.error_detail, error_detail),
        updated_at = excluded.updated_at
      WHERE excluded.rank > channel_deliveries.rank`,
    args: [
      agent,
      s.id,
      s.recipient_id,
      s.status,
      statusRank(s.status),
      Number(s.timestamp) * 1000,
      error?.code ?? null,
      error?.title ?? error?.message ?? null,
      error?.error_data?.details ?? null,
      now,
    ],
  };
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
