// Shares shown to operators: one that must not look whole unless it is.
import { describe, expect, it } from "vitest";
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
