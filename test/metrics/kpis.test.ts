// The headline numbers of the dashboard and `aideazz stats` (src/metrics/kpis.ts), from stored series.
import { describe, expect, it } from "vitest";
import { computeKpis, M, type StoredSeries } from "../../src/metrics/mod.ts";

const counter = (name: string, labels: Record<string, string>, value: number): StoredSeries => ({
  agent: "orchestrator",
  name,
  type: "counter",
  help: name,
  labels,
  bounds: [],
  points: [{ start: 0, value, vsum: null, n: null, vmin: null, vmax: null, buckets: null }],
});

describe("cache KPIs", () => {
  it("the false-hit rate is among the checked hits (2% of them are checked), as `aideazz cache stats` says", () => {
    const k = computeKpis([
      counter(M.cacheLookups, { result: "hit" }, 1_000),
      counter(M.cacheLookups, { result: "miss" }, 500),
      counter(M.cacheChecks, {}, 20),
      counter(M.cacheFalseHits, {}, 5),
    ]);
    expect(k.cacheHitRate).toBeCloseTo(1_000 / 1_500, 6);
    expect(k.cacheFalseHitRate).toBeCloseTo(5 / 20, 6); // not 5 / 1,000
  });

  it("false hits counted before the checks were (an older version, earlier in the window) are left out", () => {
    const at = (series: StoredSeries, start: number) => ({ ...series, points: series.points.map((p) => ({ ...p, start })) });
    const k = computeKpis([
      counter(M.cacheLookups, { result: "hit" }, 1_000),
      at(counter(M.cacheFalseHits, {}, 6), 0),
      at(counter(M.cacheFalseHits, {}, 1), 3_600_000),
      at(counter(M.cacheChecks, {}, 2), 3_600_000),
    ]);
    expect(k.cacheFalseHitRate).toBeCloseTo(1 / 2, 6); // not 7 / 2
  });

  it("no checks yet: no false-hit rate", () => {
    expect(computeKpis([counter(M.cacheLookups, { result: "hit" }, 10)]).cacheFalseHitRate).toBeUndefined();
  });
});
