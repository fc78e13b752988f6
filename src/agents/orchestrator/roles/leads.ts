/**
 * The `leads` table: one row per chat of a leads role — collected fields, score, stage — and its stage history
 * (`lead_events`, written by triggers). Stages only move forward: new → engaged → qualified → handed_off →
 * closed (a step may be skipped, never undone). Every write is one statement.
 *
 * @module
 */
import type { Client, Row } from "../../../store/mod.ts";
import { LEAD_FIELDS } from "./config.ts";
import type { LeadFields } from "./score.ts";

export const LEAD_STAGES = ["new", "engaged", "qualified", "handed_off", "closed"] as const;
export type LeadStage = (typeof LEAD_STAGES)[number];

export interface Lead {
  id: number;
  chat: string;
  agent: string;
  chatId: string;
  role: string;
  fields: LeadFields;
  /** What the model is told of `fields`: those extracted since the chat's last /reset. */
  known: LeadFields;
  score: number;
  stage: LeadStage;
  turns: number;
  createdAt: number;
  updatedAt: number;
  qualifiedAt: number | undefined;
}

export interface LeadUpdate {
  fields: LeadFields;
  /** `Lead.known` (unchanged when left out). */
  known?: LeadFields;
  score: number;
  stage: LeadStage;
  reason: string;
  /** Set once: the first time the lead reached the threshold. */
  qualifiedAt?: number;
}

/**
 * How long before its commit a lead write may have read its `updated_at`: a write reads the clock, then waits for
 * the write lock (the writer's queue or a libSQL server's lock) up to the store's busy timeout, 5 s, and commits
 * or fails. Twice that, for the commit's own run and the two processes' clocks.
 */
export const WRITE_LAG_MS = 10_000;

export interface LeadFilter {
  /**
   * Leads updated at or after this epoch ms, and those updated up to `WRITE_LAG_MS` before it: a lead committed
   * after an export at `since` started may carry a time a little before it (see `WRITE_LAG_MS`). An export since
   * the last one's start therefore misses nothing, and may repeat a lead changed near that time.
   */
  since?: number;
  stages?: readonly LeadStage[];
}

export interface Leads {
  get(chat: string): Promise<Lead | undefined>;
  /** Creates the chat's lead (stage new) or counts one more turn; returns it. */
  touch(chat: string, agent: string, chatId: string, role: string): Promise<Lead>;
  /** Creates the chat's lead (stage new, no turn counted) unless it has one: a handoff before its first answer. */
  ensure(chat: string, agent: string, chatId: string, role: string): Promise<void>;
  update(id: number, update: LeadUpdate): Promise<void>;
  /** Moves a lead forward to `stage`; false when it has none or is already there or beyond. */
  advance(chat: string, stage: LeadStage, reason: string): Promise<boolean>;
  list(filter?: LeadFilter): Promise<Lead[]>;
  events(id: number): Promise<{ from: LeadStage | undefined; to: LeadStage; reason: string; at: number }[]>;
}

const RANK = (column: string) =>
  `(CASE ${column} ${
    LEAD_STAGES.map((s, i) => `WHEN '${s}' THEN ${i}`).join(" ")
  } ELSE ${LEAD_STAGES.length} END)`;

/** The lead fields among `values` (a row, or the JSON object of `known_fields`). */
function toFields(values: Record<string, unknown>): LeadFields {
  const fields: LeadFields = {};
  for (const f of LEAD_FIELDS) {
    const v = values[f];
    if (typeof v === "string" && v !== "") fields[f] = v;
  }
  return fields;
}

function toLead(row: Row): Lead {
  const fields = toFields(row);
  const known = row["known_fields"];
  const qualified = row["qualified_at"];
  return {
    id: Number(row["id"]),
    chat: String(row["chat"]),
    agent: String(row["agent"]),
    chatId: String(row["chat_id"]),
    role: String(row["role"]),
    fields,
    known: typeof known === "string" ? toFields(JSON.parse(known)) : fields,
    score: Number(row["score"]),
    stage: String(row["stage"]) as LeadStage,
    turns: Number(row["turns"]),
    createdAt: Number(row["created_at"]),
    updatedAt: Number(row["updated_at"]),
    qualifiedAt: qualified === null || qualified === undefined ? undefined : Number(qualified),
  };
}

export function isLeadStage(s: string): s is LeadStage {
  return (LEAD_STAGES as readonly string[]).includes(s);
}

export function createLeads(client: Client, now: () => number): Leads {
  return {
    async get(chat) {
      const rs = await client.execute({ sql: "SELECT * FROM leads WHERE chat = ?", args: [chat] });
      return rs.rows[0] ? toLead(rs.rows[0]) : undefined;
    },
    async touch(chat, agent, chatId, role) {
      const at = now();
      const rs = await client.execute({
        sql:
          `INSERT INTO leads (chat, agent, chat_id, role, turns, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)
              ON CONFLICT (chat) DO UPDATE SET turns = turns + 1, updated_at = excluded.updated_at
              RETURNING *`,
        args: [chat, agent, chatId, role, at, at],
      });
      return toLead(rs.rows[0]!);
    },
    async ensure(chat, agent, chatId, role) {
      const at = now();
      await client.execute({
        sql: `INSERT INTO leads (chat, agent, chat_id, role, turns, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)
              ON CONFLICT (chat) DO NOTHING`,
        args: [chat, agent, chatId, role, at, at],
      });
    },
    async update(id, u) {
      // The stage moves only forward, decided in SQL so a concurrent /close is never undone.
      const forward = `${RANK("stage")} < ${RANK("?")}`;
      await client.execute({
        sql: `UPDATE leads SET ${LEAD_FIELDS.map((f) => `${f} = ?`).join(", ")},
                known_fields = COALESCE(?, known_fields), score = ?, updated_at = ?,
                stage_reason = CASE WHEN ${forward} THEN ? ELSE stage_reason END,
                stage = CASE WHEN ${forward} THEN ? ELSE stage END,
                qualified_at = COALESCE(qualified_at, ?)
              WHERE id = ?`,
        args: [
          ...LEAD_FIELDS.map((f) => u.fields[f] ?? null),
          u.known ? JSON.stringify(u.known) : null,
          u.score,
          now(),
          u.stage,
          u.reason,
          u.stage,
          u.stage,
          u.qualifiedAt ?? null,
          id,
        ],
      });
    },
    async advance(chat, stage, reason) {
      const rs = await client.execute({
        sql: `UPDATE leads SET stage = ?, stage_reason = ?, updated_at = ? WHERE chat = ? AND ${
          RANK("stage")
        } < ${RANK("?")}`,
        args: [stage, reason, now(), chat, stage],
      });
      return rs.rowsAffected === 1;
    },
    async list(filter = {}) {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (filter.since !== undefined) {
        where.push("updated_at >= ?");
        args.push(filter.since - WRITE_LAG_MS);
      }
      if (filter.stages && filter.stages.length > 0) {
        where.push(`stage IN (${filter.stages.map(() => "?").join(", ")})`);
        args.push(...filter.stages);
      }
      const rs = await client.execute({
        sql: `SELECT * FROM leads${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY id`,
        args,
      });
      return rs.rows.map(toLead);
    },
    async events(id) {
      const rs = await client.execute({
        sql: "SELECT from_stage, to_stage, reason, at FROM lead_events WHERE lead_id = ? ORDER BY id",
        args: [id],
      });
      return rs.rows.map((r) => ({
        from: r["from_stage"] === null ? undefined : String(r["from_stage"]) as LeadStage,
        to: String(r["to_stage"]) as LeadStage,
        reason: String(r["reason"]),
        at: Number(r["at"]),
      }));
    },
  };
}
