// The headline numbers of the dashboard and `aideazz stats` (src/metrics/kpis.ts), and the dashboard's Errors card,
// from stored series.
import { describe, expect, it } from "vitest";
import { errorRows } from "../../src/agents/dashboard/data.ts";
import { computeKpis, M, type StoredSeries } from "../../src/metrics/mod.ts";

const counter = (
  name: string,
  labels: Record<string, string>,
  value: number,
  agent = "orchestrator",
): StoredSeries => ({
  agent,
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

describe("the dashboard's Errors card", () => {
  it("sums an error over the agents: two Telegram bots blocked by users are one row", () => {
    // One row per stored series gave two "send telegram 403" rows (7 and 5), one per bot, neither naming its bot.
    const rows = errorRows([
      counter(M.sendErrors, { platform: "telegram", code: "403" }, 7, "telegram-support"),
      counter(M.sendErrors, { platform: "telegram", code: "403" }, 5, "telegram-leads"),
      counter(M.sendErrors, { platform: "telegram", code: "429" }, 2, "telegram-leads"),
    ]);
    expect(rows).toEqual([
      { label: "send telegram 403", count: 12 },
      { label: "send telegram 429", count: 2 },
    ]);
  });
});
