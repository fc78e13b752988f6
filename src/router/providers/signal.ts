/**
 * Timeouts that abort: a child signal that aborts when its parent aborts (same reason) or when `ms` pass (with a
 * `TimeoutError`, which providers turn into a retriable `timeout` error). `dispose()` clears the timer and the
 * listener, so a long-lived parent (an agent's shutdown signal) does not collect listeners.
 *
 * @module
 */

export interface TimedSignal {
  readonly signal: AbortSignal;
  dispose(): void;
}

export function withTimeout(parent: AbortSignal | undefined, ms: number, what: string): TimedSignal {
  const ctl = new AbortController();
  if (parent?.aborted) {
    ctl.abort(parent.reason);
    return { signal: ctl.signal, dispose() {} };
  }
  const onAbort = () => ctl.abort(parent?.reason);
  parent?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(
    () => ctl.abort(new DOMException(`${what} took longer than ${ms} ms`, "TimeoutError")),
    Math.max(0, ms),
  );
  return {
    signal: ctl.signal,
    dispose() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}
