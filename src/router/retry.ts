/**
 * Retry timing: capped exponential backoff with full jitter (a delay drawn uniformly from [0, cap·2^n]), so many
 * callers failing together do not come back together; a provider's `Retry-After` is a floor the jitter is added
 * to. Written by hand rather than with cockatiel: its policies read `Date.now()` and sleep on real timers, and the
 * router's attempts span several providers (a retry of one is interleaved with fallbacks to others).
 *
 * @module
 */
import type { ProviderError } from "./errors.ts";
import type { RetryConfig } from "./config.ts";

export type BackoffConfig = Pick<RetryConfig, "baseDelayMs" | "maxDelayMs">;

/** Delay before attempt `failures + 1` after `failures` failed ones (1 → up to base, 2 → up to 2·base, …, ≤ max). */
export function backoffDelay(failures: number, cfg: BackoffConfig, random: () => number): number {
  const ceiling = Math.min(cfg.maxDelayMs, cfg.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.floor(random() * ceiling);
}

/** When the provider that failed with `err` may be tried again: `Retry-After` (if any) plus jittered backoff. */
export function retryDelay(
  err: ProviderError,
  failures: number,
  cfg: BackoffConfig,
  random: () => number,
): number {
  return (err.retryAfterMs ?? 0) + backoffDelay(failures, cfg, random);
}

/** A sleep that ends early (rejecting with the signal's reason) when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
