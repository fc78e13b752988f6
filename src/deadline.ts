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
