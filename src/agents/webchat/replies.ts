/**
 * The web chat's "platform": replies land in `webchat_replies` (migration 20) and the page polls them by
 * sequence number. The reply's part key is unique, so storing a reply twice keeps the first row — a web chat
 * reply can be re-sent safely (at least once, deduplicated here).
 *
 * @module
 */
import { type Client, purgeInChunks } from "../../store/mod.ts";

export interface StoredReply {
  seq: number;
  kind: string;
  text: string;
  at: number;
}

/** Stores a reply once; returns its sequence number (the existing one for a repeated key). */
export async function storeReply(
  client: Client,
  r: { agent: string; sessionId: string; key: string; kind: string; text: string; now: number },
): Promise<number> {
  const [inserted, existing] = await client.batch([
    {
      sql:
        `INSERT INTO webchat_replies (agent, session_id, reply_key, kind, text, created_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (reply_key) DO NOTHING RETURNING seq`,
      args: [r.agent, r.sessionId, r.key, r.kind, r.text, r.now],
    },
    { sql: "SELECT seq FROM webchat_replies WHERE reply_key = ?", args: [r.key] },
  ], "write");
  return Number(inserted?.rows[0]?.["seq"] ?? existing?.rows[0]?.["seq"]);
}

/** Replies of one session after `afterSeq`, oldest first. */
export async function repliesAfter(
  client: Client,
  agent: string,
  sessionId: string,
  afterSeq: number,
  limit = 50,
): Promise<StoredReply[]> {
  const rs = await client.execute({
    sql: `SELECT seq, kind, text, created_at FROM webchat_replies
      WHERE agent = ? AND session_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    args: [agent, sessionId, afterSeq, limit],
  });
  return rs.rows.map((r) => ({
    seq: Number(r["seq"]),
    kind: String(r["kind"]),
    text: String(r["text"]),
    at: Number(r["created_at"]),
  }));
}

/**
 * Deletes replies stored before `cutoff` (epoch ms): a reply may quote the user, so the orchestrator's retention
 * (`conversation.retentionDays`) removes them with the conversation (index `webchat_replies_created`).
 */
export function purgeRepliesBefore(client: Client, cutoff: number, signal?: AbortSignal): Promise<number> {
  return purgeInChunks(
    client,
    "DELETE FROM webchat_replies WHERE seq IN (SELECT seq FROM webchat_replies WHERE created_at < ?1 LIMIT ?2)",
    cutoff,
    { signal },
  );
}
