/**
 * Reading traces back: one trace by id (or a unique start or end of one), the traces of a chat, the last trace,
 * and a list of recent traces for the dashboard. Every reader returns events in timeline order.
 *
 * @module
 */
import type { Client, Row } from "../store/mod.ts";
import { type JsonValue, sortTimeline, stageRank, type TraceEvent, type TraceStage } from "./types.ts";

function toEvent(r: Row): TraceEvent {
  const e: TraceEvent = {
    traceId: String(r["trace_id"]),
    agent: String(r["agent"]),
    stage: String(r["stage"]) as TraceStage,
    at: Number(r["at"]),
    seq: Number(r["seq"]),
    detail: r["detail"] === null ? {} : (JSON.parse(String(r["detail"])) as { [key: string]: JsonValue }),
  };
  if (r["duration_ms"] !== null) e.durationMs = Number(r["duration_ms"]);
  if (r["chat"] !== null) e.chat = String(r["chat"]);
  return e;
}

const COLUMNS = "trace_id, agent, stage, at, seq, duration_ms, chat, detail";

/**
 * Trace ids that start with `part`, else those that end with it (at most `limit`; a full id matches itself). Ids
 * begin with their time (id.ts): the short form people quote is the random end.
 */
export async function matchTraceIds(client: Client, part: string, limit = 5): Promise<string[]> {
  // A range on the (trace_id, at) index: hex ids sort below "g".
  const starts = await client.execute({
    sql: "SELECT DISTINCT trace_id FROM trace_events WHERE trace_id >= ? AND trace_id < ? LIMIT ?",
    args: [part, `${part}g`, limit],
  });
  if (starts.rows.length > 0 || part.length >= 32) return starts.rows.map((r) => String(r["trace_id"]));
  // An end: a scan of the index (an operator's lookup, not a hot path).
  const ends = await client.execute({
    sql: "SELECT DISTINCT trace_id FROM trace_events WHERE substr(trace_id, -?2) = ?1 LIMIT ?3",
    args: [part, part.length, limit],
  });
  return ends.rows.map((r) => String(r["trace_id"]));
}

/** Every event of the given traces, each trace's events in timeline order. */
export async function eventsOf(
  client: Client,
  traceIds: readonly string[],
): Promise<Map<string, TraceEvent[]>> {
  const out = new Map<string, TraceEvent[]>(traceIds.map((id) => [id, []]));
  if (traceIds.length === 0) return out;
  const rs = await client.execute({
    sql: `SELECT ${COLUMNS} FROM trace_events WHERE trace_id IN (${
      traceIds.map(() => "?").join(", ")
    }) ORDER BY at, id`,
    args: [...traceIds],
  });
  for (const r of rs.rows) out.get(String(r["trace_id"]))?.push(toEvent(r));
  for (const [id, events] of out) out.set(id, sortTimeline(events));
  return out;
}

/**
 * Ids of the latest traces of a chat, newest first. `chat` matches a stored chat exactly or as its last
 * `:`-separated part, so `chat:12345` finds `telegram-support:12345`.
 */
export async function traceIdsOfChat(client: Client, chat: string, limit = 5): Promise<string[]> {
  const rs = await client.execute({
    sql: `SELECT trace_id, max(at) AS last FROM trace_events INDEXED BY trace_events_received
          WHERE chat IS NOT NULL AND (chat = ?1 OR (length(chat) > length(?1) AND substr(chat, -length(?1) - 1) = ':' || ?1))
          GROUP BY trace_id ORDER BY last DESC LIMIT ?2`,
    args: [chat, limit],
  });
  return rs.rows.map((r) => String(r["trace_id"]));
}

/** Ids of the most recently started traces (by their first `received`, else any event), newest first. */
export async function lastTraceIds(client: Client, limit = 1): Promise<string[]> {
  // The traces of the latest events are the candidates: every one of them, since an older trace with a late event
  // (a slow provider call) would otherwise take the place of a newer one.
  const rs = await client.execute({
    sql: `SELECT DISTINCT trace_id FROM (SELECT trace_id FROM trace_events ORDER BY at DESC LIMIT ?)`,
    args: [Math.max(200, limit * 50)],
  });
  const ids = rs.rows.map((r) => String(r["trace_id"]));
  if (ids.length === 0) return ids;
  // Ordered by each trace's first event: the trace whose message arrived last comes first.
  const first = await client.execute({
    sql: `SELECT trace_id, min(at) AS first FROM trace_events WHERE trace_id IN (SELECT value FROM json_each(?1))
          GROUP BY trace_id ORDER BY first DESC LIMIT ?2`,
    args: [JSON.stringify(ids), limit],
  });
  return first.rows.map((r) => String(r["trace_id"]));
}

/** One line per trace for lists (dashboard, `trace chat:`). */
export interface TraceSummary {
  traceId: string;
  startedAt: number;
  endedAt: number;
  chat: string | undefined;
  agents: string[];
  stages: TraceStage[];
  /**
   * The last stage reached (e.g. `sent`, `dead_letter`): of the reply's stages (`reply_queued` on) when there are
   * any, so work done after the send (a lead's extraction) does not hide that it was sent.
   */
  lastStage: TraceStage;
  events: number;
}

const REPLY_RANK = stageRank("reply_queued");

export function summarizeTrace(events: readonly TraceEvent[]): TraceSummary | undefined {
  const first = events[0];
  const last = events.at(-1);
  if (!first || !last) return undefined;
  return {
    traceId: first.traceId,
    startedAt: first.at,
    endedAt: Math.max(...events.map((e) => e.at + (e.durationMs ?? 0))),
    chat: events.find((e) => e.chat !== undefined)?.chat,
    agents: [...new Set(events.map((e) => e.agent))],
    stages: events.map((e) => e.stage),
    lastStage: events.findLast((e) => stageRank(e.stage) >= REPLY_RANK)?.stage ?? last.stage,
    events: events.length,
  };
}

/** The most recent traces, newest first. */
export async function recentTraces(client: Client, limit = 20): Promise<TraceSummary[]> {
  const ids = await lastTraceIds(client, limit);
  const events = await eventsOf(client, ids);
  return ids.flatMap((id) => {
    const s = summarizeTrace(events.get(id) ?? []);
    return s ? [s] : [];
  });
}
