/**
 * The benchmarks' one percentile of raw samples (src/metrics/quantile.ts works on histogram buckets instead).
 *
 * @module
 */

/**
 * The `p`-th percentile (0–100) of ascending `sorted` samples by nearest rank: the smallest sample with at least
 * p % of them at or below it. So p99 of 100 samples is the 99th, not the slowest; NaN without samples.
 *
 * @example
 * ```ts
 * percentile([10, 20], 50); // 10
 * ```
 */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.ceil((p * sorted.length) / 100); // p × n first: (7 / 100) × 100 is 7.000000000000001
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? NaN;
}
