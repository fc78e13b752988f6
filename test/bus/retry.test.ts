// Retry delays of failed handlers (RELIABILITY.md C3): they grow, jittered, up to the cap, and never shrink.
import { describe, expect, it } from "vitest";
import { retryDelayMs } from "../../src/bus/retry.ts";

describe("retryDelayMs", () => {
  const policy = { baseMs: 1_000, maxMs: 300_000 };

  it("never gives a later attempt a shorter delay than an earlier one, whatever the jitter, past the cap too", () => {
    for (let attempt = 1; attempt < 40; attempt++) {
      const earliest = retryDelayMs(attempt, policy, () => 0.999);
      const next = retryDelayMs(attempt + 1, policy, () => 0);
      expect(next, `attempt ${attempt + 1} after ${attempt}`).toBeGreaterThanOrEqual(earliest);
      expect(next).toBeLessThanOrEqual(policy.maxMs);
    }
    expect(retryDelayMs(10, policy, () => 0.99)).toBe(300_000); // was up to 298,500, then 150,000 on attempt 11
  });

  it("jitters below the cap (equal jitter: [d/2, d]) and stays a number for any attempt", () => {
    expect([retryDelayMs(3, policy, () => 0), retryDelayMs(3, policy, () => 0.5)]).toEqual([2_000, 3_000]);
    expect(retryDelayMs(5_000, { baseMs: 0, maxMs: 1_000 }, () => 0.5)).toBe(0);
    expect(retryDelayMs(5_000, policy, () => 0.5)).toBe(300_000);
  });
});
