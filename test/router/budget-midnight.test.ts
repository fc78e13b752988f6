// A call reserved just before UTC midnight and settled after it is settled on the day it was reserved on; the new
// day's cap is untouched, and the month counts it once.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createBudget } from "../../src/router/budget.ts";
import { fakeClock, type TestStore, testStore } from "./providers/support.ts";

let ts: TestStore;
beforeEach(async () => (ts = await testStore()));
afterEach(() => ts.cleanup());

describe("budget across UTC midnight", () => {
  it("a reservation of day D settled on day D+1 stays on D; D+1 starts with its whole cap", async () => {
    const clock = fakeClock(Date.UTC(2030, 0, 31, 23, 59, 59, 500));
    const budget = createBudget({
      client: ts.store.client,
      config: { dailyUsd: 1, monthlyUsd: 100, lowFraction: 0, prices: { c: { inputUsdPerMTok: 1, outputUsdPerMTok: 1 } } },
      now: clock.now,
    });
    const r = await budget.reserve("c", { inputTokens: 100_000, maxOutputTokens: 800_000 }, "simple"); // $0.90
    expect(r).toBeDefined();
    clock.advance(1_000); // 2030-02-01
    await budget.settle(r!, { inputTokens: 100_000, outputTokens: 400_000 }); // $0.50
    const s = await budget.status();
    expect(s.day).toBe("2030-02-01");
    expect(s.daySpentUsd).toBe(0);
    expect(s.monthUsedUsd).toBe(0); // February: January's call is January's
    expect(await budget.reserve("c", { inputTokens: 0, maxOutputTokens: 1_000_000 }, "simple")).toBeDefined();
    const jan = (await ts.store.client.execute("SELECT spent_micros, reserved_micros FROM router_budget_days WHERE day = '2030-01-31'")).rows[0];
    expect([Number(jan?.["spent_micros"]), Number(jan?.["reserved_micros"])]).toEqual([500_000, 0]);
  });
});
