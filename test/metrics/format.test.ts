// Shares shown to operators: one that must not look whole unless it is.
import { describe, expect, it } from "vitest";
import { formatPercentDown } from "../../src/metrics/mod.ts";

describe("formatPercentDown", () => {
  it("floors to a tenth of a percent, exact shares included, and says 100% only when nothing is missing", () => {
    expect(formatPercentDown(93 / 100)).toBe("93%");
    expect(formatPercentDown(1 / 5)).toBe("20%");
    expect(formatPercentDown(999 / 1000)).toBe("99.9%");
    expect(formatPercentDown(9999 / 10000)).toBe("99.9%");
    expect(formatPercentDown(1)).toBe("100%");
  });
});
