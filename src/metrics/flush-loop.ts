/**
 * One writer per agent process: every `intervalMs` it asks its sources (metrics, trace events) for statements
 * and writes them in a `batch(…, "write")` call: one transaction, and never the write lock held across an
 * `await`. A source may bound what one batch carries (`more`: the tracer hands over 400 events at a time); the loop
 * then writes the rest in further transactions right away, at most `MAX_ROUNDS` per flush (the rest goes with the
 * next), so a source that fills faster than it drains never holds up the next interval's metrics and heartbeat. A
 * source that fills a batch before the interval ends asks for a write of its own (`onFull`): five seconds of trace
 * events in one transaction held the write lock for 40–55 ms at 500 messages/s while every process's webhooks
 * waited. A failed write loses nothing: each source keeps its data until a batch that carried it commits.
 * `stop()` waits for a running write and writes everything left.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { storeErrorCode } from "../store/errors.ts";
import type { Client, InStatement, ResultSet } from "../store/mod.ts";
import { M } from "./names.ts";
import type { Metrics } from "./registry.ts";

/** What one source contributes to a flush, and how it learns the outcome. */
export interface FlushBatch {
  statements: InStatement[];
  /** Called once: `ok` with this batch's own results (in order), or not ok when the write failed. */
  done(ok: boolean, results: readonly ResultSet[]): void;
  /** The source kept data back to bound this batch: collect it again after this batch commits. */
  more?: boolean;
}

/** Anything that buffers rows for the store (the metrics writer, the tracer). */
export interface FlushSource {
  collect(now: number): FlushBatch;
  /** Given, once, what writes this source alone now (between `start()` and `stop()`): call it when a batch is full. */
  onFull?(flushNow: () => void): void;
}

export interface FlushReport {
  ok: boolean;
  statements: number;
  /** Wall time of collecting and writing, in ms. */
  durationMs: number;
  /** SQLite error code of a failed write. */
  error?: string;
}

export interface FlushLoop {
  /** Flushes once now (so a start is on record at once), then every interval. */
  start(): void;
  /** Flushes now; concurrent calls run one after the other. */
  flush(): Promise<FlushReport>;
  /** Stops the timer and makes the final flush. */
  stop(): Promise<FlushReport>;
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface FlushLoopOptions {
  client: Client;
  sources: readonly FlushSource[];
  intervalMs: number;
  now: () => number;
  /** Runs before sources are collected (e.g. sampling RSS into a gauge). */
  beforeFlush?: () => void;
  /** Records flush duration and errors. */
  metrics?: Metrics;
  log?: Logger;
  timers?: Timers;
  /** Monotonic ms for measuring the flush itself. */
  elapsed?: () => number;
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Transactions one flush makes at most: 25 × 400 trace events is the tracer's whole default buffer. */
const MAX_ROUNDS = 25;

/** Creates the flush loop of one process. */
export function createFlushLoop(opts: FlushLoopOptions): FlushLoop {
  const timers = opts.timers ?? realTimers;
  const elapsed = opts.elapsed ?? (() => performance.now());
  let queue: Promise<unknown> = Promise.resolve();
  let timer: unknown;
  let running = false;

  /** Sources that still had data after the last flush's last round. */
  let left: readonly FlushSource[] = [];

  const once = async (from: readonly FlushSource[]): Promise<FlushReport> => {
    const started = elapsed();
    const batches: FlushBatch[] = [];
    let written = 0;
    try {
      if (from === opts.sources) opts.beforeFlush?.();
      const now = opts.now();
      let sources = from;
      for (let round = 0; sources.length > 0 && round < MAX_ROUNDS; round++) {
        for (const s of sources) batches.push(s.collect(now));
        const statements = batches.flatMap((b) => b.statements);
        const results = statements.length === 0 ? [] : await opts.client.batch(statements, "write");
        let offset = 0;
        for (const b of batches) {
          b.done(true, results.slice(offset, offset + b.statements.length));
          offset += b.statements.length;
        }
        written += statements.length;
        sources = sources.filter((_, i) => batches[i]!.more);
        batches.length = 0; // committed: nothing to hand back
      }
      left = sources;
      const durationMs = elapsed() - started;
      if (written > 0) opts.metrics?.observe(M.flushDuration, durationMs);
      return { ok: true, statements: written, durationMs };
    } catch (err) {
      // A failed write or a throwing source: every source that handed over data gets it back.
      for (const b of batches) b.done(false, []);
      const error = storeErrorCode(err);
      opts.metrics?.inc(M.flushErrors, { code: error });
      opts.log?.warn("flush of metrics and trace events failed; kept for the next one", { code: error, err });
      const statements = written + batches.reduce((a, b) => a + b.statements.length, 0);
      return { ok: false, statements, durationMs: elapsed() - started, error };
    }
  };

  const flush = (sources = opts.sources): Promise<FlushReport> => {
    const next = queue.then(() => once(sources));
    queue = next.catch(() => {});
    return next;
  };
  for (const s of opts.sources) {
    s.onFull?.(() => {
      if (running) void flush([s]);
    });
  }

  const schedule = () => {
    if (!running) return;
    timer = timers.set(() => {
      timer = undefined;
      flush().finally(schedule);
    }, opts.intervalMs);
  };

  return {
    start() {
      running = true;
      flush().finally(schedule);
    },
    flush: () => flush(),
    async stop() {
      running = false;
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
      // Nothing records any more: write what the last flushes left (a failed write ends it: kept, as ever).
      let report = await flush();
      while (report.ok && left.length > 0) {
        const more = await flush(left);
        const statements = report.statements + more.statements;
        report = { ...more, statements, durationMs: report.durationMs + more.durationMs };
      }
      return report;
    },
  };
}
