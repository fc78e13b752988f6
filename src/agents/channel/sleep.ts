/**
 * Abortable sleep: the one timer every pacing and back-off wait goes through, injected so tests move time.
 *
 * @module
 */

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** What a channel's waits for one delivery end on: its lease lost, or the agent stopping. */
export function waitSignal(delivery: { signal: AbortSignal }, stopping: AbortSignal | undefined): AbortSignal {
  return stopping ? AbortSignal.any([delivery.signal, stopping]) : delivery.signal;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as `signal` aborts. */
export const sleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
