/**
 * A per-provider circuit breaker with an injected clock. Closed: calls pass, failures are counted in a sliding
 * window; `failureThreshold` of them open it. Open: no call passes until `cooldownMs` has passed. Half-open:
 * exactly one probe passes; its success closes the breaker, its failure opens it again. Errors that say nothing
 * about the provider's health (400/401/403, spend limit, 429) are reported as `release()` and change nothing.
 *
 * Breakers live in the process (they react within seconds; sharing them through the store is not worth a write).
 *
 * @module
 */
import { monotonicClock } from "../deadline.ts";
import type { BreakerConfig } from "./config.ts";

export type BreakerState = "closed" | "open" | "half-open";

/** One admitted call; exactly one of its methods must be called when the call ends. */
export interface BreakerPermit {
  success(): void;
  failure(): void;
  /** The call ended without a verdict on the provider's health. */
  release(): void;
}

export interface Breaker {
  state(): BreakerState;
  /** A permit when a call may go now (in half-open, only the single probe), else undefined. */
  tryAcquire(): BreakerPermit | undefined;
  /** Epoch ms at which `tryAcquire` may succeed again (now when it would succeed now). */
  retryAt(): number;
}

export interface BreakerOptions extends BreakerConfig {
  now: () => number;
  onChange?: (from: BreakerState, to: BreakerState) => void;
}

/** How long a caller waits for a half-open probe in flight before looking again. */
const PROBE_POLL_MS = 250;

export function createBreaker(opts: BreakerOptions): Breaker {
  const clock = monotonicClock(opts.now); // a wall clock stepped back would hold it open for the step
  let state: BreakerState = "closed";
  let failures: number[] = [];
  let openedAt = 0;
  let probeInFlight = false;

  const move = (to: BreakerState) => {
    if (to === state) return;
    const from = state;
    state = to;
    opts.onChange?.(from, to);
  };

  const current = (): BreakerState => {
    if (state === "open" && clock() - openedAt >= opts.cooldownMs) {
      probeInFlight = false;
      move("half-open");
    }
    return state;
  };

  const open = () => {
    openedAt = clock();
    failures = [];
    probeInFlight = false;
    move("open");
  };

  const closedPermit: BreakerPermit = {
    success() {},
    failure() {
      if (current() !== "closed") return; // a late answer from before the breaker opened
      const now = clock();
      failures = failures.filter((t) => now - t < opts.windowMs);
      failures.push(now);
      if (failures.length >= opts.failureThreshold) open();
    },
    release() {},
  };

  const probePermit = (): BreakerPermit => {
    let done = false;
    const end = (f: () => void) => () => {
      if (done) return;
      done = true;
      probeInFlight = false;
      if (state === "half-open") f();
    };
    return {
      success: end(() => {
        failures = [];
        move("closed");
      }),
      failure: end(open),
      release: end(() => {}),
    };
  };

  return {
    state: current,
    tryAcquire() {
      const s = current();
      if (s === "closed") return closedPermit;
      if (s === "open" || probeInFlight) return undefined;
      probeInFlight = true;
      return probePermit();
    },
    retryAt() {
      const s = current();
      const now = opts.now();
      if (s === "open") return now + Math.max(0, openedAt + opts.cooldownMs - clock());
      return s === "half-open" && probeInFlight ? now + PROBE_POLL_MS : now;
    },
  };
}
