/**
 * Percentiles from histogram buckets, the way Prometheus' `histogram_quantile` computes them: find the bucket
 * holding the rank, interpolate linearly inside it (the first bucket starts at 0), and answer the highest finite
 * bound when the rank falls in the +Inf bucket. The error is at most one bucket's width.
 *
 * @module
 */

/** Adds per-bucket counts element-wise (`into` is changed and returned). */
export function addBuckets(into: number[], more: readonly number[]): number[] {
  for (let i = 0; i < more.length; i++) into[i] = (into[i] ?? 0) + (more[i] ?? 0);
  return into;
}

/**
 * The `q`-quantile (0 ≤ q ≤ 1) of a histogram, or undefined when it has no observations.
 *
 * @example
 * ```ts
 * quantileFromBuckets([10, 100], [0, 10, 0], 0.5); // 55: rank 5 of 10, halfway through the (10, 100] bucket
 * ```
 */
export function quantileFromBuckets(
  bounds: readonly number[],
  counts: readonly number[],
  q: number,
): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be between 0 and 1, got ${q}`);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && below + c >= rank) {
      if (i >= bounds.length) return bounds.at(-1) ?? 0;
      const lower = i === 0 ? Math.min(0, bounds[0]!) : bounds[i - 1]!;
      const upper = bounds[i]!;
      return lower + (upper - lower) * Math.max(0, rank - below) / c;
    }
    below += c;
  }
  return bounds.at(-1) ?? 0;
}

/** p50, p90 and p99 of a histogram (undefined without observations). */
export function percentiles(
  bounds: readonly number[],
  counts: readonly number[],
): { p50: number; p90: number; p99: number } | undefined {
  const p50 = quantileFromBuckets(bounds, counts, 0.5);
  if (p50 === undefined) return undefined;
  return {
    p50,
    p90: quantileFromBuckets(bounds, counts, 0.9)!,
    p99: quantileFromBuckets(bounds, counts, 0.99)!,
  };
}
