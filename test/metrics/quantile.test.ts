// Percentiles from histogram buckets: the math alone, then over stored windows with an injected clock.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFlushLoop,
  createMetrics,
  createMetricsWriter,
  DEFAULT_METRICS_CONFIG,
  mergedBuckets,
  percentiles,
  quantileFromBuckets,
  quantileSlots,
  readSeries,
  retentionOf,
  TEN_SECONDS,
} from "../../src/metrics/mod.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

describe("quantileFromBuckets", () => {
  it("interpolates linearly inside the bucket holding the rank", () => {
    // 10 observations in (10, 100]: the median's rank 5 is halfway through → 55.
    expect(quantileFromBuckets([10, 100], [0, 10, 0], 0.5)).toBe(55);
    // Ranks 9 and 9.9 of 10 observations.
    expect(quantileFromBuckets([10, 100], [0, 10, 0], 0.9)).toBeCloseTo(91);
    expect(quantileFromBuckets([10, 100], [0, 10, 0], 0.99)).toBeCloseTo(99.1);
  });

  it("the first bucket starts at 0", () => {
    expect(quantileFromBuckets([10, 100], [4, 0, 0], 0.5)).toBe(5);
  });

  it("a rank in the +Inf bucket answers the highest finite bound", () => {
    expect(quantileFromBuckets([10, 100], [1, 0, 9], 0.5)).toBe(100);
  });

  it("crosses buckets by cumulative count", () => {
    // 50 in (0,10], 40 in (10,100], 10 in (100,1000]: p50 is the top of bucket 1, p90 the top of bucket 2.
    const c = [50, 40, 10, 0];
    expect(quantileFromBuckets([10, 100, 1000], c, 0.5)).toBe(10);
    expect(quantileFromBuckets([10, 100, 1000], c, 0.9)).toBe(100);
    expect(quantileFromBuckets([10, 100, 1000], c, 0.95)).toBe(550);
  });

  it("is undefined without observations and rejects q outside [0, 1]", () => {
    expect(quantileFromBuckets([1], [0, 0], 0.5)).toBeUndefined();
    expect(() => quantileFromBuckets([1], [1, 0], 1.5)).toThrow(RangeError);
  });

  it("matches the true percentile of a known distribution within one bucket", () => {
    const m = createMetrics();
    // 1..1000 ms uniformly: true p50 = 500, p90 = 900, p99 = 990.
    for (let v = 1; v <= 1000; v++) m.observe("u_ms", v);
    const s = m.snapshot()[0]!;
    const p = percentiles(m.spec("u_ms")!.bounds!, s.buckets!)!;
    expect(p.p50).toBeCloseTo(500, 0);
    expect(p.p90).toBeCloseTo(900, 0);
    expect(p.p99).toBeCloseTo(990, 0);
  });
});

describe("percentiles over stored windows (injected clock)", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: Store;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir("aideazz-quantile-"));
    store = await openStore({ url: `file:${join(dir, "q.db")}` });
    await migrate(store.client);
  });
  afterAll(async () => {
    store.close();
    await cleanup();
  });

  it("each 10 s bucket keeps its own distribution; a window merges exactly the buckets inside it", async () => {
    const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
    let now = T0;
    const metrics = createMetrics();
    const loop = createFlushLoop({
      client: store.client,
      sources: [createMetricsWriter({ metrics, agent: "a", retention: retentionOf(DEFAULT_METRICS_CONFIG) })],
      intervalMs: 10_000,
      now: () => now,
    });
    // Minute 0: fast replies (40 ms); minute 1: slow ones (4 s). Flushed every 10 s of simulated time.
    for (let step = 0; step < 12; step++) {
      const v = step < 6 ? 40 : 4_000;
      for (let i = 0; i < 10; i++) metrics.observe("aideazz_reply_latency_ms", v, { channel: "telegram" });
      now = T0 + step * 10_000 + 5_000;
      expect((await loop.flush()).ok).toBe(true);
    }
    const firstMinute = await readSeries(store.client, { from: T0, to: T0 + 60_000, res: TEN_SECONDS });
    expect(percentiles(mergedBuckets(firstMinute)!.bounds, mergedBuckets(firstMinute)!.counts)!.p99)
      .toBeLessThanOrEqual(50);
    const both = await readSeries(store.client, { from: T0, to: T0 + 120_000, res: TEN_SECONDS });
    const merged = mergedBuckets(both)!;
    expect(merged.counts.reduce((a, b) => a + b, 0)).toBe(120);
    const p = percentiles(merged.bounds, merged.counts)!;
    expect(p.p50).toBeLessThanOrEqual(50); // rank 60 of 120 is the last fast reply
    expect(p.p90).toBeGreaterThan(2_500);
    // Per-slot p90: two slots of one minute each.
    const w = { from: T0, to: T0 + 120_000, res: TEN_SECONDS };
    const slots = quantileSlots(both, w, 2, 0.9);
    expect(slots[0]).toBeLessThanOrEqual(50);
    expect(slots[1]).toBeGreaterThan(2_500);
    // The 1-minute rollup holds the same distribution as its six 10 s buckets.
    const minute = await readSeries(store.client, { from: T0, to: T0 + 120_000, res: 60_000 });
    expect(minute[0]?.points.map((pt) => pt.value)).toEqual([60, 60]);
    expect(mergedBuckets(minute)!.counts).toEqual(merged.counts);
  });
});
