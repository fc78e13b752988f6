/**
 * The `handoffs` table: chats handed to a person. A paused chat gets no bot answer (and no model call) until the
 * operator's `/resume` or the user's `/bot`. One row per chat, reused by later handoffs; every write is one
 * statement.
 *
 * @module
 */
import type { Client, Row } from "../../../store/mod.ts";
import type { OperatorConfig } from "./config.ts";

export interface Handoff {
  id: number;
  chat: string;
  agent: string;
  chatId: string;
  role: string;
  state: "paused" | "active";
  reason: string;
  since: number;
  /** Bus id of the inbound message that paused the chat. */
  startedBy: number | undefined;
}

export interface HandoffStart {
  chat: string;
  agent: string;
  chatId: string;
  role: string;
  reason: string;
  /** Who was told (recorded only: a paused chat belongs to its agent's role's operator as configured now). */
  operator: OperatorConfig;
  startedBy: number;
}

export interface Handoffs {
  get(chat: string): Promise<Handoff | undefined>;
  /** A handoff of a chat of one of `agents` by `#id`, id, or chat key. */
  find(ref: string, agents: readonly string[]): Promise<Handoff | undefined>;
  /** Pauses the chat; `started` is false when it already was paused (nothing to forward again). */
  pause(start: HandoffStart): Promise<{ handoff: Handoff; started: boolean }>;
  /**
   * Gives the chat back to the bot for the message `by` (its bus id); false when it was not paused. True again for
   * a redelivery of the message that resumed it: a crash after this write still gets the user and operator told.
   */
  resume(chat: string, by: number): Promise<boolean>;
  /** The paused chats of `agents`. */
  paused(agents: readonly string[]): Promise<Handoff[]>;
}

/**
 * ?1 the channel agents (a JSON array). By agent, not by the role or operator stored at the start: after the config
 * renames the role, moves the agent to another role or names another operator chat, the chats paused before are
 * the operator's of the agent's role as configured now.
 */
const OF_AGENTS = "agent IN (SELECT value FROM json_each(?1))";

function toHandoff(row: Row): Handoff {
  return {
    id: Number(row["id"]),
    chat: String(row["chat"]),
    agent: String(row["agent"]),
    chatId: String(row["chat_id"]),
    role: String(row["role"]),
    state: row["state"] === "paused" ? "paused" : "active",
    reason: String(row["reason"]),
    since: Number(row["since"]),
    startedBy: row["started_by"] === null || row["started_by"] === undefined
      ? undefined
      : Number(row["started_by"]),
  };
}

export function createHandoffs(client: Client, now: () => number): Handoffs {
  const get = async (chat: string) => {
    const rs = await client.execute({ sql: "SELECT * FROM handoffs WHERE chat = ?", args: [chat] });
    return rs.rows[0] ? toHandoff(rs.rows[0]) : undefined;
  };
  return {
    get,
    async find(ref, agents) {
      const id = /^#?(\d+)$/.exec(ref)?.[1];
      const rs = await client.execute({
        sql: `SELECT * FROM handoffs WHERE ${id ? "id = ?2" : "chat = ?2"} AND ${OF_AGENTS}`,
        args: [JSON.stringify(agents), id ? Number(id) : ref],
      });
      return rs.rows[0] ? toHandoff(rs.rows[0]) : undefined;
    },
    async pause(s) {
      const at = now();
      const rs = await client.execute({
        sql:
          `INSERT INTO handoffs (chat, agent, chat_id, role, state, reason, operator_agent, operator_chat, started_by, since, updated_at)
              VALUES (?, ?, ?, ?, 'paused', ?, ?, ?, ?, ?, ?)
              ON CONFLICT (chat) DO UPDATE SET state = 'paused', role = excluded.role, reason = excluded.reason,
                since = excluded.since, updated_at = excluded.updated_at, operator_agent = excluded.operator_agent,
                operator_chat = excluded.operator_chat, started_by = excluded.started_by
              WHERE handoffs.state <> 'paused'
              RETURNING *`,
        args: [
          s.chat,
          s.agent,
          s.chatId,
          s.role,
          s.reason,
          s.operator.agent,
          s.operator.chatId,
          s.startedBy,
          at,
          at,
        ],
      });
      if (rs.rows[0]) return { handoff: toHandoff(rs.rows[0]), started: true };
      return { handoff: (await get(s.chat))!, started: false };
    },
    async resume(chat, by) {
      const rs = await client.execute({
        sql: `UPDATE handoffs SET state = 'active', resumed_by = ?3, updated_at = ?1
          WHERE chat = ?2 AND (state = 'paused' OR resumed_by = ?3)`,
        args: [now(), chat, by],
      });
      return rs.rowsAffected === 1;
    },
    async paused(agents) {
      const rs = await client.execute({
        sql: `SELECT * FROM handoffs WHERE state = 'paused' AND ${OF_AGENTS} ORDER BY id`,
        args: [JSON.stringify(agents)],
      });
      return rs.rows.map(toHandoff);
    },
  };
}
