/**
 * The tracer of one agent process: `event()` appends to an in-memory buffer (no I/O, no await, never throws on a
 * missing trace id) and the process's flush loop writes the buffer to `trace_events`: with its batched write each
 * interval, and on its own each time another 400 events are waiting. A failed write keeps the events for the next
 * flush; past `maxBuffered` the oldest are dropped and counted.
 *
 * @module
 */
import type { FlushBatch, FlushSource } from "../metrics/flush-loop.ts";
import { M } from "../metrics/names.ts";
import type { Metrics } from "../metrics/registry.ts";
import { type Client, type InStatement, purgeInChunks } from "../store/mod.ts";
import type { JsonValue, TraceDetail, TraceEvent, TraceStage } from "./types.ts";

export interface EventOptions {
  /** The chat of this trace (on `received`), so `aideazz trace chat:<id>` finds it. */
  chat?: string;
  /** How long the stage took (a provider attempt, a send). */
  durationMs?: number;
  /** When it happened, if not now (epoch ms). */
  at?: number;
}

export interface Tracer {
  readonly agent: string;
  /**
   * Records one stage of a trace. A no-op when `traceId` is undefined, so callers pass `delivery.traceId` as is.
   *
   * @example
   * ```ts
   * tracer.event(traceId, "received", { platformId: String(update.update_id) }, { chat: chatKey(agent, chatId) });
   * tracer.event(delivery.traceId, "claimed", { group: delivery.group, attempt: delivery.attempt });
   * tracer.event(traceId, "sent", { platformMessageId: String(sent.message_id) });
   * ```
   */
  event(traceId: string | undefined, stage: TraceStage, detail?: TraceDetail, opts?: EventOptions): void;
  /**
   * Starts a timed stage; call the returned function when it ends (it records the event with its duration).
   *
   * @example
   * ```ts
   * const done = tracer.begin(traceId, "provider", { provider: "groq", model });
   * try { res = await provider.chat(req, { signal }); done({ status: "ok" }); }
   * catch (err) { done({ status: "error", error: err.name }); throw err; }
   * ```
   */
  begin(traceId: string | undefined, stage: TraceStage, detail?: TraceDetail): (more?: TraceDetail) => void;
  /** Events recorded and not yet written (for tests of the areas that emit them). */
  peek(): readonly TraceEvent[];
  /** Feeds the flush loop. */
  readonly source: FlushSource;
}

export interface TracerOptions {
  agent: string;
  now: () => number;
  /** Events kept while the store is unavailable (default 10,000). */
  maxBuffered?: number;
  /** Applied to each event's detail JSON before it is stored (secrets never reach the database). */
  redact?: (text: string) => string;
  metrics?: Metrics;
}

/**
 * Events one flush batch carries, in one statement: the write lock is held a few ms. A full batch is written at once,
 * not at the next interval: five seconds of events in one transaction held it for 40–55 ms at 500 messages/s.
 */
const EVENTS_PER_BATCH = 400;

function cleanDetail(detail: TraceDetail | undefined): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [k, v] of Object.entries(detail ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * One statement text for any number of events (their values as one JSON array): a statement prepared once. A text per
 * batch size would be prepared again and again, and under Deno each prepared statement leaks (src/store/writer.ts).
 */
const INSERT_EVENTS = `INSERT INTO trace_events (trace_id, agent, stage, at, seq, duration_ms, chat, detail)
  SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5, j.value ->> 6,
    j.value ->> 7
  FROM json_each(?1) AS j ORDER BY j.key`;

function insertStatements(events: readonly TraceEvent[], redact: (t: string) => string): InStatement[] {
  if (events.length === 0) return [];
  const rows = events.map((e) => [
    e.traceId,
    e.agent,
    e.stage,
    e.at,
    e.seq,
    e.durationMs ?? null,
    e.chat ?? null,
    Object.keys(e.detail).length === 0 ? null : redact(JSON.stringify(e.detail)),
  ]);
  return [{ sql: INSERT_EVENTS, args: [JSON.stringify(rows)] }];
}

/** Creates the tracer of one agent (or of a CLI command or test). */
export function createTracer(opts: TracerOptions): Tracer {
  const max = opts.maxBuffered ?? 10_000;
  const redact = opts.redact ?? ((t: string) => t);
  let buffer: TraceEvent[] = [];
  let seq = 0;
  let onFull: (() => void) | undefined;

  const push = (events: TraceEvent[]) => {
    const over = events.length - max;
    if (over > 0) {
      opts.metrics?.inc(M.traceEventsDropped, {}, over);
      events.splice(0, over);
    }
    return events;
  };

  const event: Tracer["event"] = (traceId, stage, detail, eo = {}) => {
    if (traceId === undefined || traceId === "") return;
    const e: TraceEvent = {
      traceId,
      agent: opts.agent,
      stage,
      at: eo.at ?? opts.now(),
      seq: seq++,
      detail: cleanDetail(detail),
    };
    if (eo.durationMs !== undefined) e.durationMs = eo.durationMs;
    if (eo.chat !== undefined) e.chat = eo.chat;
    buffer.push(e);
    if (buffer.length % EVENTS_PER_BATCH === 0) onFull?.(); // a batch more is waiting
    if (buffer.length > max) buffer = push(buffer);
  };

  return {
    agent: opts.agent,
    event,
    begin(traceId, stage, detail) {
      const at = opts.now();
      let ended = false;
      return (more) => {
        if (ended) return;
        ended = true;
        event(traceId, stage, { ...detail, ...more }, { at, durationMs: opts.now() - at });
      };
    },
    peek: () => buffer,
    source: {
      collect(): FlushBatch {
        const taken = buffer.splice(0, EVENTS_PER_BATCH);
        return {
          statements: insertStatements(taken, redact),
          done(ok) {
            if (!ok) buffer = push([...taken, ...buffer]);
          },
          more: buffer.length > 0,
        };
      },
      onFull(flushNow) {
        onFull = flushNow;
      },
    },
  };
}

/** ?1 cutoff, ?2 chunk size. Ids grow with every insert: the cap keeps the newest `maxStoredEvents` ids. */
const PURGE_OLDER = "DELETE FROM trace_events WHERE id IN (SELECT id FROM trace_events WHERE at < ?1 LIMIT ?2)";
const PURGE_OVER_CAP = `DELETE FROM trace_events WHERE id IN (
  SELECT id FROM trace_events WHERE id <= (SELECT max(id) FROM trace_events) - ?1 LIMIT ?2)`;

/**
 * Deletes the trace events older than `cutoff` (epoch ms) and the oldest beyond `maxStoredEvents`, a chunk per
 * statement (`purgeInChunks`): at 1,000 messages/s the cap alone drops ~300,000 events a minute, and one DELETE
 * of 50,000 took 146 ms (on a copy of a benchmark database) with the write lock held. Returns how many it deleted.
 */
export async function purgeTraceEvents(
  client: Client,
  opts: { cutoff: number; maxStoredEvents: number; signal?: AbortSignal; chunk?: number },
): Promise<number> {
  const { signal, chunk } = opts;
  return await purgeInChunks(client, PURGE_OLDER, opts.cutoff, { signal, chunk }) +
    await purgeInChunks(client, PURGE_OVER_CAP, opts.maxStoredEvents, { signal, chunk });
}
