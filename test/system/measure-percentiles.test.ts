// The benchmarks' percentiles (bench/percentile.ts, nearest rank) and the system benchmark's measuring arithmetic
// (bench/system/measure.ts) against hand-computed values.
import { describe, expect, it } from "vitest";
import { percentile } from "../../bench/percentile.ts";
import { dist, type LockHistograms, lockUse } from "../../bench/system/measure.ts";

describe("system bench percentiles (dist)", () => {
  it("p99 of 100 samples is not their maximum, p50 of 1..100 is the median (nearest rank 50, interpolated 50.5)", () => {
    // A 10/s step of 10 s has exactly 100 sends: its "p99" must not be the single slowest request.
    const d = dist(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(d.n).toBe(100);
    expect(d.max).toBe(100);
    expect(d.p99).toBeGreaterThanOrEqual(99);
    expect(d.p99).toBeLessThanOrEqual(99.01);
    expect(d.p50).toBeGreaterThanOrEqual(50);
    expect(d.p50).toBeLessThanOrEqual(50.5);
  });

  it("p50 of two samples is not the larger one", () => {
    const d = dist([20, 10]);
    expect(d.p50).toBeGreaterThanOrEqual(10);
    expect(d.p50).toBeLessThanOrEqual(15);
  });

  it("p99 of 1,000 samples of which exactly 10 (1 %) are slow is not the slow ones' value", () => {
    // 99 % of the requests took 5 ms: the 99th percentile is 5 ms by nearest rank, and so says the project's own
    // quantile over buckets (src/metrics/quantile.ts: rank 990 falls among the 990 fast ones); 13.95 interpolated.
    const d = dist([...Array.from({ length: 990 }, () => 5), ...Array.from({ length: 10 }, () => 900)]);
    expect(d.n).toBe(1000);
    expect(d.max).toBe(900);
    expect(d.p99).toBeLessThan(900);
  });

  it("p50 of an odd count is the middle one; an empty list gives NaN", () => {
    expect(dist([3, 1, 2])).toMatchObject({ n: 3, p50: 2, max: 3 });
    expect(dist([])).toMatchObject({ n: 0 });
    expect(Number.isNaN(dist([]).p50)).toBe(true);
  });
});

describe("benchmark percentile (nearest rank)", () => {
  it("is the smallest sample with at least p % at or below it", () => {
    const s = Array.from({ length: 10 }, (_, i) => i + 1);
    expect([0, 7, 10, 50, 90, 91, 99, 100].map((p) => percentile(s, p))).toEqual([1, 1, 1, 5, 9, 10, 10, 10]);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 7)).toBe(7); // 7 × 100 / 100, no float excess
    expect(percentile([], 50)).toBeNaN();
  });
});

describe("system bench write-lock use (lockUse)", () => {
  it("takes the observations between two scrapes, per bucket, and their share of the time", () => {
    // bounds 1, 5, 10 ms (+Inf); cumulative counts as /metrics renders them.
    const before: LockHistograms = {
      hold: { bounds: [1, 5, 10], cumulative: [10, 20, 20, 20], sum: 100 },
      wait: { bounds: [1, 5, 10], cumulative: [5, 5, 5, 5], sum: 2 },
    };
    const after: LockHistograms = {
      // 90 more under 1 ms, 10 more in (1, 5], 0 in (5, 10], 0 over: 100 transactions, 1,100 ms held more.
      hold: { bounds: [1, 5, 10], cumulative: [100, 120, 120, 120], sum: 1_200 },
      // 100 more waits: 98 under 1 ms, 2 in (5, 10].
      wait: { bounds: [1, 5, 10], cumulative: [103, 103, 105, 105], sum: 20 },
    };
    const use = lockUse(before, after, 10)!;
    expect(use.transactions).toBe(100);
    expect(use.held_pct).toBe(11); // 1,100 ms of 10,000
    // p99 of hold: rank 99 of 100 lies in (1, 5] (90 below it, 10 in it): 1 + 4 × 9/10 = 4.6.
    expect(use.hold_p99_ms).toBe(4.6);
    // p99 of wait: rank 99 of 100 in (5, 10] (98 below, 2 in it): 5 + 5 × 1/2 = 7.5.
    expect(use.wait_p99_ms).toBe(7.5);
    // A restart in between (counts went down): no figures.
    expect(lockUse(after, before, 10)).toBeUndefined();
  });
});
