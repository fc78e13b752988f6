/**
 * The web chat's "platform": replies land in `webchat_replies` (migration 20) and the page polls them by
 * sequence number. The reply's part key is unique, so storing a reply twice keeps the first row — a web chat
 * reply can be re-sent safely (at least once, deduplicated here). Its `session_id` holds the session's chat id (a hash
 * of the session id, routes.ts `sessionChatId`), never the session id itself.
 *
 * @module
 */
import { type Client, purgeInChunks } from "../../store/mod.ts";
import { ORCHESTRATOR_GROUP } from "../channel/spine.ts";

export interface StoredReply {
  seq: number;
  kind: string;
  text: string;
  at: number;
}

/** Stores a reply once; returns its sequence number (the existing one for a repeated key). */
export async function storeReply(
  client: Client,
  r: { agent: string; chatId: string; key: string; kind: string; text: string; now: number },
): Promise<number> {
  const [inserted, existing] = await client.batch([
    {
      sql:
        `INSERT INTO webchat_replies (agent, session_id, reply_key, kind, text, created_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (reply_key) DO NOTHING RETURNING seq`,
      args: [r.agent, r.chatId, r.key, r.kind, r.text, r.now],
    },
    { sql: "SELECT seq FROM webchat_replies WHERE reply_key = ? LIMIT 1", args: [r.key] },
  ], "write");
  return Number(inserted?.rows[0]?.["seq"] ?? existing?.rows[0]?.["seq"]);
}

/** Replies of one session after `afterSeq`, oldest first. */
export async function repliesAfter(
  client: Client,
  agent: string,
  chatId: string,
  afterSeq: number,
  limit = 50,
): Promise<StoredReply[]> {
  const rs = await client.execute({
    sql: `SELECT seq, kind, text, created_at FROM webchat_replies
      WHERE agent = ? AND session_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    args: [agent, chatId, afterSeq, limit],
  });
  return rs.rows.map((r) => ({
    seq: Number(r["seq"]),
    kind: String(r["kind"]),
    text: String(r["text"]),
    at: Number(r["created_at"]),
  }));
}

/**
 * True while a message of the session stored after `since` waits for its answer to be on the page: its turn has not
 * answered it yet (and it is not dead-lettered), or it has and this agent's egress has not stored the reply (part 0
 * of the reply the inbox row names) yet. The page shows "typing…" meanwhile.
 */
export async function awaitingReply(client: Client, agent: string, chatId: string, since: number): Promise<boolean> {
  const rs = await client.execute({
    sql: `SELECT 1 FROM chat_inbox i WHERE agent = ?1 AND chat_id = ?2 AND received_at >= ?3 AND ((state = 'pending'
          AND NOT EXISTS (SELECT 1 FROM bus_dead_letters WHERE msg_id = i.bus_id AND grp = ?4))
        OR (state = 'answered' AND NOT EXISTS (SELECT 1 FROM webchat_replies WHERE reply_key = i.reply_key || '#0')))
      LIMIT 1`,
    args: [agent, chatId, since, ORCHESTRATOR_GROUP],
  });
  return rs.rows.length > 0;
}

/** One line of a session's conversation as the page shows it; a visitor's line has the id the page gave it. */
export interface HistoryLine {
  from: "me" | "bot";
  text: string;
  id?: string;
}

/**
 * The last `limit` lines of a session's conversation, oldest first: the visitor's messages (the chat inbox) and the
 * replies, by time (a message before the reply of the same millisecond), and the last reply's sequence number
 * (where the page's polling goes on). Both are removed by retention with the conversation. A visitor's line carries its
 * message id: a page opening while another tab sends tells by it which of the messages it heard of are stored already
 * (their texts need not be unique, and are stored changed: invisible characters dropped).
 */
export async function historyOf(
  client: Client,
  agent: string,
  chatId: string,
  limit = 50,
): Promise<{ lines: HistoryLine[]; after: number }> {
  const [lines, last] = await client.batch([
    {
      sql: `SELECT * FROM (
          SELECT 'me' AS source, text, received_at AS at, seq AS n, platform_id AS id FROM chat_inbox
            WHERE agent = ?1 AND chat_id = ?2
          UNION ALL
          SELECT 'bot', text, created_at, seq, NULL FROM webchat_replies WHERE agent = ?1 AND session_id = ?2
        ) ORDER BY at DESC, source = 'me', n DESC LIMIT ?3`,
      args: [agent, chatId, limit],
    },
    { sql: "SELECT max(seq) AS seq FROM webchat_replies WHERE agent = ? AND session_id = ?", args: [agent, chatId] },
  ], "read");
  return {
    lines: lines!.rows.map((r): HistoryLine =>
      r["source"] === "me"
        ? { from: "me", text: String(r["text"]), id: String(r["id"]) }
        : { from: "bot", text: String(r["text"]) }
    ).reverse(),
    after: Number(last!.rows[0]?.["seq"] ?? 0),
  };
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
