/**
 * One writer per agent process: every `intervalMs` it asks its sources (metrics, trace events) for statements
 * and writes them all in ONE `batch(…, "write")` call, so an agent takes the write lock once per interval however
 * much it recorded, and never holds it across an `await`. A failed write loses nothing: each source keeps its
 * data until a batch that carried it commits. `stop()` waits for a running write and makes a last one.
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
}

/** Anything that buffers rows for the store (the metrics writer, the tracer). */
export interface FlushSource {
  collect(now: number): FlushBatch;
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

/** Creates the flush loop of one process. */
export function createFlushLoop(opts: FlushLoopOptions): FlushLoop {
  const timers = opts.timers ?? realTimers;
  const elapsed = opts.elapsed ?? (() => performance.now());
  let queue: Promise<unknown> = Promise.resolve();
  let timer: unknown;
  let stopped = false;

  const once = async (): Promise<FlushReport> => {
    const started = elapsed();
    const batches: FlushBatch[] = [];
    try {
      opts.beforeFlush?.();
      const now = opts.now();
      for (const s of opts.sources) batches.push(s.collect(now));
      const statements = batches.flatMap((b) => b.statements);
      const results = statements.length === 0 ? [] : await opts.client.batch(statements, "write");
      let offset = 0;
      for (const b of batches) {
        b.done(true, results.slice(offset, offset + b.statements.length));
        offset += b.statements.length;
      }
      const durationMs = elapsed() - started;
      if (statements.length > 0) opts.metrics?.observe(M.flushDuration, durationMs);
      return { ok: true, statements: statements.length, durationMs };
    } catch (err) {
      // A failed write or a throwing source: every source that handed over data gets it back.
      for (const b of batches) b.done(false, []);
      const error = storeErrorCode(err);
      opts.metrics?.inc(M.flushErrors, { code: error });
      opts.log?.warn("metrics flush failed; kept for the next one", { code: error, err });
      const statements = batches.reduce((a, b) => a + b.statements.length, 0);
      return { ok: false, statements, durationMs: elapsed() - started, error };
    }
  };

  const flush = (): Promise<FlushReport> => {
    const next = queue.then(once);
    queue = next.catch(() => {});
    return next;
  };

  const schedule = () => {
    if (stopped) return;
    timer = timers.set(() => {
      timer = undefined;
      flush().finally(schedule);
    }, opts.intervalMs);
  };

  return {
    start() {
      flush().finally(schedule);
    },
    flush,
    async stop() {
      stopped = true;
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
      return await flush();
    },
  };
}
