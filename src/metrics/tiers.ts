/**
 * Resolutions of stored metrics. Every flush adds its increase into the 10-second, 1-minute and 1-hour rows in
 * the same transaction (the rollup happens at write time, so it never lags and a crash cannot leave a tier
 * behind another); retention then drops each tier's old rows.
 *
 * @module
 */
import type { MetricsConfig } from "./config.ts";

export const TEN_SECONDS = 10_000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Stored resolutions in ms, finest first. */
export const RESOLUTIONS: readonly number[] = [TEN_SECONDS, MINUTE, HOUR];

/** How long each resolution (and trace events) are kept, in ms. */
export interface Retention {
  /** Keyed by resolution in ms. */
  readonly byResolution: ReadonlyMap<number, number>;
  readonly traceMs: number;
  /** Most trace events kept. */
  readonly traceMaxEvents: number;
}

/**
 * `conversationDays` (`conversation.retentionDays`) caps the trace events' days: they carry chat ids (a WhatsApp
 * chat id is the user's phone number), kept no longer than the conversation they belong to.
 */
export function retentionOf(cfg: MetricsConfig, conversationDays = Infinity): Retention {
  const r = cfg.retention;
  return {
    byResolution: new Map([[TEN_SECONDS, r.tenSecondHours * HOUR], [MINUTE, r.minuteDays * DAY], [
      HOUR,
      r.hourDays * DAY,
    ]]),
    traceMs: Math.min(r.traceDays, conversationDays) * DAY,
    traceMaxEvents: r.traceMaxEvents,
  };
}

/** Start of the bucket of resolution `res` holding `at`. */
export function bucketStart(at: number, res: number): number {
  return Math.floor(at / res) * res;
}

/**
 * The first bucket of a window of `ms` ending at `now`: the one after the bucket holding `now - ms` (only whole
 * buckets), but never after the current one (a window shorter than a bucket is the current bucket).
 */
export function windowStart(now: number, ms: number, res: number): number {
  return Math.min(bucketStart(now - ms, res) + res, bucketStart(now, res));
}

/** Points a chart or table may hold before a coarser resolution is chosen. */
const MAX_POINTS = 1_500;

/** The finest resolution that still holds the whole window and gives at most ~1,500 points. */
export function resolutionFor(windowMs: number, retention: Retention): number {
  for (const res of RESOLUTIONS) {
    const kept = retention.byResolution.get(res) ?? 0;
    if (kept >= windowMs && windowMs / res <= MAX_POINTS) return res;
  }
  return HOUR;
}
