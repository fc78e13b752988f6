import { describe, expect, it } from "vitest";
import { backoffMs, decideCrashRestart, decideRestart } from "../../src/ops/mod.ts";

const p = { minIntervalMs: 60_000, maxIntervalMs: 900_000, maxPerHour: 5 };
const MIN = 60_000;

describe("restart back-off", () => {
  it("restarts at once when nothing was restarted in the last hour", () => {
    expect(decideRestart([], 0, p)).toEqual({ action: "restart" });
    expect(decideRestart([-3_600_000], 0, p)).toEqual({ action: "restart" });
  });

  it("doubles the required gap per restart within the hour, from the minimum up to the cap", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n, p))).toEqual([
      60_000,
      120_000,
      240_000,
      480_000,
      900_000,
      900_000,
      900_000,
    ]);
    expect(decideRestart([0], 59_999, p)).toMatchObject({ action: "wait", until: 60_000 });
    expect(decideRestart([0], 60_000, p)).toEqual({ action: "restart" });
    expect(decideRestart([0, 60_000], 179_999, p)).toMatchObject({ action: "wait", until: 180_000 });
    expect(decideRestart([0, 60_000, 180_000], 419_999, p)).toMatchObject({ action: "wait", until: 420_000 });
  });

  it("gives up at the hourly ceiling until the oldest restart of the window is an hour old", () => {
    const history = [0, MIN, 3 * MIN, 7 * MIN, 15 * MIN];
    expect(decideRestart(history, 30 * MIN, p)).toMatchObject({ action: "give-up", until: 60 * MIN });
    expect(decideRestart(history, 60 * MIN, p)).toEqual({ action: "restart" });
  });

  it("a simulated crash loop checked every minute never restarts faster than the minimum interval", () => {
    const restarts: number[] = [];
    for (let t = 0; t <= 3 * 3_600_000; t += MIN) {
      if (decideRestart(restarts, t, p).action === "restart") restarts.push(t);
    }
    const gaps = restarts.slice(1).map((t, i) => t - restarts[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(MIN);
    expect(gaps.slice(0, 4)).toEqual([MIN, 2 * MIN, 4 * MIN, 8 * MIN]);
    for (const t of restarts) {
      expect(restarts.filter((r) => r > t - 3_600_000 && r <= t).length).toBeLessThanOrEqual(5);
    }
  });

  it("`up`: the first restart after a crash also waits the minimum interval; the ceiling counts restarts, not the first start", () => {
    const up = { minIntervalMs: 200, maxIntervalMs: 1_000, maxPerHour: 3 };
    expect(decideCrashRestart([0], 50, up)).toMatchObject({ action: "wait", until: 200 });
    expect(decideCrashRestart([0], 5_000, up)).toEqual({ action: "restart" });
    expect(decideCrashRestart([0, 200], 250, up)).toMatchObject({ action: "wait", until: 400 });
    expect(decideCrashRestart([0, 200, 400, 800], 900, up)).toMatchObject({ action: "give-up" });
  });
});
