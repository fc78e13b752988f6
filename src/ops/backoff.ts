/**
 * Flap protection shared by the health job and `aideazz up`: after each (re)start within the last hour the
 * next one must wait twice as long (from `minIntervalMs` up to `maxIntervalMs`), and at most `maxPerHour`
 * happen per rolling hour; then the target is left alone until the oldest of them is an hour old.
 *
 * @module
 */

export interface BackoffPolicy {
  minIntervalMs: number;
  maxIntervalMs: number;
  maxPerHour: number;
}

export type RestartDecision =
  | { action: "restart" }
  | { action: "wait"; until: number; reason: string }
  | { action: "give-up"; until: number; reason: string };

export const HOUR_MS = 3_600_000;

/** The back-off required after the n-th (re)start within the hour (n ≥ 1). */
export function backoffMs(n: number, p: BackoffPolicy): number {
  return Math.min(p.minIntervalMs * 2 ** Math.max(0, n - 1), p.maxIntervalMs);
}

/**
 * Whether a target may be restarted now, given the times of its earlier (re)starts.
 *
 * @example
 * ```ts
 * const p = { minIntervalMs: 60_000, maxIntervalMs: 900_000, maxPerHour: 5 };
 * decideRestart([], 0, p);            // { action: "restart" }
 * decideRestart([0], 30_000, p);      // { action: "wait", until: 60_000, … }
 * decideRestart([0, 60_000], 61_000, p); // wait until 180_000 (2 min after the second)
 * ```
 */
export function decideRestart(history: readonly number[], now: number, p: BackoffPolicy): RestartDecision {
  const recent = history.filter((t) => t > now - HOUR_MS && t <= now).sort((a, b) => a - b);
  if (recent.length >= p.maxPerHour) {
    const until = recent[recent.length - p.maxPerHour]! + HOUR_MS;
    return {
      action: "give-up",
      until,
      reason: `${recent.length} restarts in the last hour (ceiling ${p.maxPerHour})`,
    };
  }
  const last = recent.at(-1);
  if (last === undefined) return { action: "restart" };
  const gap = backoffMs(recent.length, p);
  if (now < last + gap) {
    return {
      action: "wait",
      until: last + gap,
      reason: `back-off ${Math.round(gap / 1000)} s after restart ${recent.length} this hour`,
    };
  }
  return { action: "restart" };
}
