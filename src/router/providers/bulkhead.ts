/**
 * A bulkhead: at most `maxConcurrent` calls to one provider at once (per process), a bounded queue behind it,
 * and a bounded wait in that queue, so a slow provider cannot soak up every request (RELIABILITY D6).
 *
 * @module
 */

export interface Bulkhead {
  readonly inFlight: number;
  readonly queued: number;
  /**
   * Resolves with a release function once a slot is free, or with undefined when the queue is full or no slot
   * freed up within `waitMs`. Rejects with the signal's reason when `signal` aborts while waiting.
   */
  acquire(waitMs: number, signal: AbortSignal): Promise<(() => void) | undefined>;
}

/**
 * `maxQueue` defaults to 4 × `maxConcurrent`, and at least 16: the orchestrator runs up to 16 model turns at once,
 * and with one provider left (e.g. the local model, one call at a time, while Groq and Claude are down) they all
 * wait for it, each at most its `waitMs`, instead of finding the queue full (a fallback reply).
 */
export function createBulkhead(maxConcurrent: number, maxQueue = Math.max(16, maxConcurrent * 4)): Bulkhead {
  let inFlight = 0;
  const waiters: Array<(granted: boolean) => void> = [];

  const releaser = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiters.shift();
      if (next) next(true); // the slot passes straight to the next waiter
      else inFlight--;
    };
  };

  return {
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return waiters.length;
    },
    acquire(waitMs, signal) {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (inFlight < maxConcurrent) {
        inFlight++;
        return Promise.resolve(releaser());
      }
      if (waiters.length >= maxQueue || waitMs <= 0) return Promise.resolve(undefined);
      return new Promise((resolve, reject) => {
        const settle = (granted: boolean) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          resolve(granted ? releaser() : undefined);
        };
        const leave = () => {
          const i = waiters.indexOf(settle);
          if (i >= 0) waiters.splice(i, 1);
        };
        const onAbort = () => {
          clearTimeout(timer);
          leave();
          reject(signal.reason);
        };
        const timer = setTimeout(() => {
          leave();
          settle(false);
        }, waitMs);
        signal.addEventListener("abort", onAbort, { once: true });
        waiters.push(settle);
      });
    },
  };
}
