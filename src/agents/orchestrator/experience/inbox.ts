/**
 * The orchestrator's view of the chat inbox (src/agents/channel/inbox.ts): a message's own row, the messages of
 * its chat stored after it and still waiting, and the statements that record which turn answered which messages —
 * committed in the same write batch as the saved answer, so "answered" and "covered" never disagree.
 *
 * @module
 */
import type { InboundMessage } from "../../../bus/envelopes.ts";
import {
  batchReads,
  type Client,
  type InStatement,
  purgeInChunks,
  type Row,
  selectRows,
} from "../../../store/mod.ts";

export type InboxState = "pending" | "answered" | "silent";

export interface InboxRow {
  seq: number;
  platformId: string;
  kind: InboundMessage["kind"];
  text: string;
  receivedAt: number;
  busId: number | undefined;
  state: InboxState;
  replyKey: string | undefined;
  /** Who sent it (undefined for a row stored before the sender was). */
  userId: string | undefined;
  /** The media a caption came with ("photo"); a non-text message names its kind in its text instead. */
  attachment?: string | undefined;
}

export interface Inbox {
  /** The row of one stored message; undefined when no channel wrote one (a message published directly). */
  get(agent: string, platformId: string): Promise<InboxRow | undefined>;
  /** The chat's waiting messages stored after `seq`, oldest first, at most `limit`. */
  pendingAfter(agent: string, chatId: string, seq: number, limit: number): Promise<InboxRow[]>;
  /** The rows a reply answered, in storing order (a photo its text's turn answers comes before that text). */
  answeredBy(replyKey: string): Promise<InboxRow[]>;
  /**
   * Statements recording that `own` (bus id `busId`) and `others` were answered by `replyKey` (or left
   * `silent`). Only rows still pending change; `own` gets a row if no channel wrote one.
   */
  finish(
    own: { msg: InboundMessage; busId: number },
    others: readonly InboxRow[],
    state: Exclude<InboxState, "pending">,
    replyKey: string | undefined,
    at: number,
  ): InStatement[];
  /** As `finish`, for `others` of `agent` alone (a burst's messages past the rate limit). */
  finishOthers(
    agent: string,
    others: readonly InboxRow[],
    state: Exclude<InboxState, "pending">,
    replyKey: string | undefined,
    at: number,
  ): InStatement[];
  /** Deletes rows stored before `cutoff` (epoch ms); returns how many. */
  purgeBefore(cutoff: number, signal?: AbortSignal): Promise<number>;
}

const COLUMNS = "seq, platform_id, kind, text, received_at, bus_id, state, reply_key, user_id, attachment";
/** A row read by agent and platform id: its agent too. */
const KEYED_COLUMNS = ["agent", ...COLUMNS.split(", ")];

function toRow(r: Row): InboxRow {
  const kind = String(r["kind"]);
  return {
    seq: Number(r["seq"]),
    platformId: String(r["platform_id"]),
    kind: kind === "command" || kind === "unsupported" ? kind : "text",
    text: String(r["text"]),
    receivedAt: Number(r["received_at"]),
    busId: r["bus_id"] === null || r["bus_id"] === undefined ? undefined : Number(r["bus_id"]),
    state: r["state"] === "answered" ? "answered" : r["state"] === "silent" ? "silent" : "pending",
    replyKey: r["reply_key"] === null || r["reply_key"] === undefined ? undefined : String(r["reply_key"]),
    userId: r["user_id"] === null || r["user_id"] === undefined ? undefined : String(r["user_id"]),
    attachment: r["attachment"] === null || r["attachment"] === undefined ? undefined : String(r["attachment"]),
  };
}

export function createInbox(client: Client): Inbox {
  const finishOthers: Inbox["finishOthers"] = (agent, others, state, replyKey, at) => {
    if (others.length === 0) return [];
    return [{
      sql: `UPDATE chat_inbox SET state = ?, reply_key = ?, answered_at = ?
        WHERE agent = ? AND state = 'pending' AND platform_id IN (${others.map(() => "?").join(", ")})`,
      args: [state, replyKey ?? null, at, agent, ...others.map((o) => o.platformId)],
    }];
  };
  // Keyed by the JSON text of [agent, platform id]: the statement reads the keys as one JSON array.
  const rowOf = batchReads(async (keys) => {
    const rows = await selectRows(client, {
      sql: `SELECT agent, ${COLUMNS} FROM json_each(?1) AS j
        CROSS JOIN chat_inbox ON agent = j.value ->> '$[0]' AND platform_id = j.value ->> '$[1]'`,
      args: [`[${keys.join(",")}]`],
    }, KEYED_COLUMNS);
    return new Map(rows.map((values) => {
      const r = Object.fromEntries(KEYED_COLUMNS.map((c, i) => [c, values[i]])) as Row;
      return [JSON.stringify([r["agent"], r["platform_id"]]), toRow(r)];
    }));
  });
  return {
    get: (agent, platformId) => rowOf(JSON.stringify([agent, platformId])),
    async pendingAfter(agent, chatId, seq, limit) {
      const rs = await client.execute({
        sql: `SELECT ${COLUMNS} FROM chat_inbox
          WHERE agent = ? AND chat_id = ? AND state = 'pending' AND seq > ? ORDER BY seq LIMIT ?`,
        args: [agent, chatId, seq, limit],
      });
      return rs.rows.map(toRow);
    },
    async answeredBy(replyKey) {
      const rs = await client.execute({
        sql: `SELECT ${COLUMNS} FROM chat_inbox WHERE reply_key = ? ORDER BY seq`,
        args: [replyKey],
      });
      return rs.rows.map(toRow);
    },
    finish(own, others, state, replyKey, at) {
      const { msg, busId } = own;
      const statements: InStatement[] = [{
        sql:
          `INSERT INTO chat_inbox (agent, platform_id, chat_id, kind, text, received_at, bus_id, state, reply_key, answered_at,
            user_id, attachment)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (agent, platform_id) DO UPDATE SET
            bus_id = coalesce(chat_inbox.bus_id, excluded.bus_id), state = excluded.state,
            reply_key = excluded.reply_key, answered_at = excluded.answered_at
          WHERE chat_inbox.state = 'pending'`,
        args: [
          msg.agent,
          msg.platformId,
          msg.chatId,
          msg.kind,
          msg.text,
          msg.receivedAt,
          busId,
          state,
          replyKey ?? null,
          at,
          msg.userId,
          msg.attachment ?? null,
        ],
      }];
      return [...statements, ...finishOthers(msg.agent, others, state, replyKey, at)];
    },
    finishOthers,
    purgeBefore: (cutoff, signal) =>
      purgeInChunks(
        client,
        "DELETE FROM chat_inbox WHERE seq IN (SELECT seq FROM chat_inbox WHERE received_at < ?1 LIMIT ?2)",
        cutoff,
        { signal },
      ),
  };
}
