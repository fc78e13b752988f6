/**
 * A deadline for one piece of work: a signal aborted by its parent (a stopping agent, a caller) or after `ms`, and
 * `clear` for when the work ends. Not `AbortSignal.any([parent, AbortSignal.timeout(ms)])`: under Node 20 that
 * signal never fires once the garbage collector has run (test/deadline.test.ts); Deno's does.
 *
 * @module
 */

export interface Deadline {
  signal: AbortSignal;
  /** Call when the work ends (in `finally`): drops the timer and the listener on the parent. */
  clear(): void;
}

export function deadline(ms: number, parent?: AbortSignal): Deadline {
  const ctrl = new AbortController();
  const onParent = () => ctrl.abort(parent?.reason);
  if (parent?.aborted) onParent();
  parent?.addEventListener("abort", onParent);
  const timer = setTimeout(() => ctrl.abort(new DOMException(`no answer within ${ms} ms`, "TimeoutError")), ms);
  return {
    signal: ctrl.signal,
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onParent);
    },
  };
}

/**
 * A clock for durations (ms since it was made) that moves only with `now`'s forward moves: a wall clock stepped back
 * (NTP, a restored VM) would otherwise stretch a wait or a deadline measured on it by the step. It advances when
 * called, so call it at least at each end of what it measures.
 */
export function steadyClock(now: () => number): () => number {
  let last = now();
  let elapsed = 0;
  return () => {
    const t = now();
    elapsed += Math.max(0, t - last);
    last = t;
    return elapsed;
  };
}

/**
 * `now`'s time, but never stepping back: after a step back it goes on from where it was by `now`'s forward moves.
 * For times a process keeps and compares with later readings (a pacer's next slot, a breaker's opening), so a step
 * back does not hold them for its length.
 */
export function monotonicClock(now: () => number): () => number {
  const start = now();
  const steady = steadyClock(now);
  return () => start + steady();
}
