/**
 * Timeouts that abort: a child signal that aborts when its parent aborts (same reason) or when `ms` pass (with a
 * `TimeoutError`, which providers turn into a retriable `timeout` error). `restart(ms)` starts the wait over (a
 * stream's next chunk: the wait is for progress, not for the whole). `dispose()` clears the timer and the
 * listener, so a long-lived parent (an agent's shutdown signal) does not collect listeners.
 *
 * @module
 */

export interface TimedSignal {
  readonly signal: AbortSignal;
  restart(ms: number): void;
  dispose(): void;
}

export function withTimeout(parent: AbortSignal | undefined, ms: number, what: string): TimedSignal {
  const ctl = new AbortController();
  if (parent?.aborted) {
    ctl.abort(parent.reason);
    return { signal: ctl.signal, restart() {}, dispose() {} };
  }
  const onAbort = () => ctl.abort(parent?.reason);
  parent?.addEventListener("abort", onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const restart = (wait: number) => {
    clearTimeout(timer);
    timer = setTimeout(
      () => ctl.abort(new DOMException(`${what} waited longer than ${wait} ms`, "TimeoutError")),
      Math.max(0, wait),
    );
  };
  restart(ms);
  return {
    signal: ctl.signal,
    restart,
    dispose() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}
