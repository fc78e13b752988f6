/**
 * Housekeeping on a schedule (retention purges, checkpoints): one run at a time, the next `ms` after the previous
 * one ended, and a stop that ends a run between its chunks (the signal) and waits for it, so the store is never
 * closed under a running job.
 *
 * @module
 */

export interface Every {
  /** Starts the schedule: the first run after `delayMs` (default `ms`; 0 starts it now, before returning). */
  start(delayMs?: number): void;
  /** Stops the schedule, aborts the signal of a run in progress and waits for that run. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `ms` (after the previous run ended) between `start()` and `stop()`; `ms` as a function is asked
 * before each wait, so a task can set its own pace.
 */
export function every(ms: number | (() => number), task: (signal: AbortSignal) => Promise<unknown>): Every {
  const interval = typeof ms === "number" ? () => ms : ms;
  const stopping = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<unknown> | undefined;
  const run = () => {
    running = task(stopping.signal).finally(() => {
      running = undefined;
      if (!stopping.signal.aborted) next();
    });
  };
  const next = (delayMs = interval()) => {
    timer = setTimeout(run, delayMs);
  };
  return {
    start: (delayMs = interval()) => (delayMs === 0 ? run() : next(delayMs)),
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
