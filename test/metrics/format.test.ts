// Numbers shown to operators (aideazz stats, the dashboard): a share that must not look whole unless it is, and a value
// just under a unit's boundary shown in the next unit, never as "1m 60s" or "1000 ms".
import { describe, expect, it } from "vitest";
import { formatByName, formatBytes, formatCount, formatMs } from "../../src/metrics/format.ts";
import { formatDuration } from "../../src/metrics/duration.ts";
import { formatPercent, formatPercentDown } from "../../src/metrics/mod.ts";

describe("formatPercentDown", () => {
  it("floors to a tenth of a percent, exact shares included, and says 100% only when nothing is missing", () => {
    expect(formatPercentDown(93 / 100)).toBe("93%");
    expect(formatPercentDown(1 / 5)).toBe("20%");
    expect(formatPercentDown(999 / 1000)).toBe("99.9%");
    expect(formatPercentDown(9999 / 10000)).toBe("99.9%");
    expect(formatPercentDown(1)).toBe("100%");
  });
});

describe("formatPercent", () => {
  it("rounds to neither end: a non-zero share is never 0.0%, one short of whole never 100%", () => {
    expect(formatPercent(0)).toBe("0%");
    expect(formatPercent(0.0004)).toBe("<0.1%");
    expect(formatPercent(0.0006)).toBe("0.1%");
    expect(formatPercent(0.05)).toBe("5.0%");
    expect(formatPercent(0.62)).toBe("62%");
    expect(formatPercent(0.996)).toBe("99.6%");
    expect(formatPercent(0.99996)).toBe("99.9%");
    expect(formatPercent(1)).toBe("100%");
  });
});

describe("formatBytes", () => {
  it("gives an agent at exactly MemoryMax=256M as 256.0 MiB, the figure `aideazz health` gives, not 268 MB", () => {
    expect(formatBytes(256 * 1024 ** 2)).toBe("256.0 MiB");
  });
});

describe("units at their boundaries", () => {
  it("rounds first, then picks the unit", () => {
    expect([119.6, 3_599.7, 59.6, 86_399.6, 90_061].map((s) => formatByName("aideazz_uptime_seconds", s))).toEqual([
      "2m 0s",
      "1h 0m",
      "1m 0s",
      "1d 0h",
      "1d 1h",
    ]);
    expect([999.96, 999_999, 999, 9_999.96, 1_250].map(formatCount)).toEqual(["1k", "1M", "999", "10k", "1.3k"]);
    expect([999.7, 999.4, 9.96, 1_900].map(formatMs)).toEqual(["1 s", "999 ms", "10 ms", "1.9 s"]);
    // Base 1024, as systemd's MemoryMax: 1023.96 KiB is "1.0 MiB", not "1024.0 KiB".
    expect([1_023, 1_023.6, 1_500, 1_048_535, 1_048_524, 1_073_741_000].map(formatBytes)).toEqual([
      "1023 B",
      "1.0 KiB",
      "1.5 KiB",
      "1.0 MiB",
      "1023.9 KiB",
      "1.0 GiB",
    ]);
    expect([59_700, 59_400, 999.6, 9_960].map(formatDuration)).toEqual(["1m", "59 s", "1 s", "10 s"]);
  });
});

