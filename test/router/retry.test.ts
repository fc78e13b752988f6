import { describe, expect, it } from "vitest";
import { ProviderError } from "../../src/router/errors.ts";
import { backoffDelay, retryDelay, sleep } from "../../src/router/retry.ts";
import { seededRandom } from "./providers/support.ts";

const cfg = { baseDelayMs: 250, maxDelayMs: 5_000 };

describe("retry timing", () => {
  it("full jitter stays within the doubling ceiling and the cap", () => {
    const random = seededRandom(1);
    for (let failures = 1; failures <= 8; failures++) {
      const ceiling = Math.min(5_000, 250 * 2 ** (failures - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(failures, cfg, random);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
      }
    }
    expect(backoffDelay(1, cfg, () => 0.999_999)).toBe(249);
    expect(backoffDelay(30, cfg, () => 0.999_999)).toBe(4_999);
  });

  it("a Retry-After is a floor the jitter adds to", () => {
    const err = new ProviderError({ provider: "groq", kind: "rate_limit", status: 429, retryAfterMs: 7_000 });
    const random = seededRandom(2);
    for (let i = 0; i < 100; i++) {
      const d = retryDelay(err, 1, cfg, random);
      expect(d).toBeGreaterThanOrEqual(7_000);
      expect(d).toBeLessThan(7_250);
    }
  });

  it("sleep ends early with the signal's reason", async () => {
    const ctl = new AbortController();
    const reason = new Error("stop");
    setTimeout(() => ctl.abort(reason), 10);
    await expect(sleep(10_000, ctl.signal)).rejects.toBe(reason);
  });
});
