import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createBudget, periodsOf } from "../../src/router/budget.ts";
import { createQuota } from "../../src/router/quota.ts";
import { fakeClock, type TestStore, testStore } from "./providers/support.ts";
import { repoRoot } from "../support/cli.ts";

let ts: TestStore;
beforeEach(async () => (ts = await testStore()));
afterEach(() => ts.cleanup());

const prices = { "claude-haiku": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } };
// 1,000 input tokens at $1/MTok + 200 output tokens at $5/MTok = $0.002 = 2,000 micro-dollars.
const est = { inputTokens: 1_000, maxOutputTokens: 200 };

describe("budget", () => {
  it("prices usage from the table; an unpriced model costs $0", () => {
    const b = createBudget({ client: ts.store.client, now: Date.now, config: { lowFraction: 0.2, prices } });
    expect(b.costUsd("claude-haiku", { inputTokens: 1_000_000, outputTokens: 100_000 })).toBeCloseTo(1.5, 9);
    expect(b.costUsd("llama-local", { inputTokens: 1_000_000, outputTokens: 1_000_000 })).toBe(0);
  });

  it("50 concurrent reservations against a small budget never exceed it", async () => {
    const clock = fakeClock();
    const b = createBudget({
      client: ts.store.client,
      now: clock.now,
      config: { dailyUsd: 0.021, lowFraction: 0.2, prices },
    });
    const results = await Promise.all(
      Array.from({ length: 50 }, () => b.reserve("claude-haiku", est, "high-value")),
    );
    expect(results.filter((r) => r !== undefined)).toHaveLength(10);
    const s = await b.status();
    expect(s.dayReservedUsd).toBeCloseTo(0.02, 9);
    expect(s.dayReservedUsd + s.daySpentUsd).toBeLessThanOrEqual(0.021);
  });

  it("several processes reserving at once never exceed the cap together", async () => {
    const startAt = Date.now() + 1_500;
    const runs = await Promise.all([0, 1, 2, 3].map(() => runWorker(ts.url, "budget", 25, startAt)));
    const total = runs.reduce((n, r) => n + r.ok, 0);
    // $0.05 / $0.002 per reservation = 25 fit, out of 100 attempts across 4 processes.
    expect(total).toBe(25);
    const { day } = periodsOf(Date.UTC(2030, 0, 15, 12));
    const row = (await ts.store.client.execute({
      sql: "SELECT reserved_micros FROM router_budget_days WHERE day = ?",
      args: [day],
    })).rows[0];
    expect(Number(row?.["reserved_micros"])).toBe(50_000);
  }, 60_000);

  it("several processes taking one quota at once never take more than the bucket holds", async () => {
    const q = createQuota({ client: ts.store.client, now: () => Date.UTC(2030, 0, 15, 12) });
    await q.ensure("groq", "llama", { requestsPerMinute: 30 });
    const startAt = Date.now() + 1_500;
    const runs = await Promise.all([0, 1, 2, 3].map(() => runWorker(ts.url, "quota", 20, startAt)));
    expect(runs.reduce((n, r) => n + r.ok, 0)).toBe(30);
  }, 60_000);

  it("settling replaces the reservation with the real cost, freeing the rest", async () => {
    const clock = fakeClock();
    const b = createBudget({
      client: ts.store.client,
      now: clock.now,
      config: { dailyUsd: 0.004, lowFraction: 0, prices },
    });
    const r1 = await b.reserve("claude-haiku", est, "simple");
    const r2 = await b.reserve("claude-haiku", est, "simple");
    expect(await b.reserve("claude-haiku", est, "simple")).toBeUndefined();
    expect(await b.settle(r1!, { inputTokens: 100, outputTokens: 20 })).toBeCloseTo(0.0002, 9);
    expect(await b.settle(r2!, "none")).toBe(0);
    expect(await b.status()).toMatchObject({ daySpentUsd: 0.0002, dayReservedUsd: 0 });
    expect(await b.reserve("claude-haiku", est, "simple")).toBeDefined();
  });

  it("below the low-water mark only high-value turns may still spend", async () => {
    const clock = fakeClock();
    const b = createBudget({
      client: ts.store.client,
      now: clock.now,
      config: { dailyUsd: 0.01, lowFraction: 0.2, prices },
    });
    for (let i = 0; i < 4; i++) {
      await b.settle((await b.reserve("claude-haiku", est, "complex"))!, "reserved");
    }
    expect(await b.reserve("claude-haiku", est, "complex")).toBeUndefined(); // would pass 80%
    const hv = await b.reserve("claude-haiku", est, "high-value");
    expect(hv).toBeDefined();
    expect(await b.reserve("claude-haiku", est, "high-value")).toBeUndefined(); // the cap itself
  });

  it("a monthly cap spans days; a new day does not reset it", async () => {
    const clock = fakeClock(Date.UTC(2030, 0, 30, 23, 0));
    const b = createBudget({
      client: ts.store.client,
      now: clock.now,
      config: { dailyUsd: 1, monthlyUsd: 0.005, lowFraction: 0, prices },
    });
    await b.settle((await b.reserve("claude-haiku", est, "simple"))!, "reserved");
    clock.advance(2 * 3_600_000); // Jan 31
    await b.settle((await b.reserve("claude-haiku", est, "simple"))!, "reserved");
    expect(await b.reserve("claude-haiku", est, "simple")).toBeUndefined();
    clock.advance(24 * 3_600_000); // Feb 1: a new month
    expect(await b.reserve("claude-haiku", est, "simple")).toBeDefined();
  });

  it("a free model is never blocked, even with the budget exhausted, and writes nothing", async () => {
    const b = createBudget({
      client: ts.store.client,
      now: Date.now,
      config: { dailyUsd: 0, lowFraction: 0.2, prices },
    });
    expect(await b.reserve("claude-haiku", est, "high-value")).toBeUndefined();
    const r = await b.reserve("llama-local", est, "simple");
    expect(r).toMatchObject({ free: true, micros: 0 });
    expect(await b.settle(r!, { inputTokens: 10, outputTokens: 10 })).toBe(0);
    expect((await ts.store.client.execute("SELECT count(*) AS n FROM router_budget_days")).rows[0]?.["n"])
      .toBe(0);
  });
});

function runWorker(url: string, mode: string, count: number, startAt: number): Promise<{ ok: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(repoRoot, "node_modules/.bin/deno"), [
      "run",
      "-A",
      join(repoRoot, "test/router/providers/contention-worker.ts"),
      url,
      mode,
      String(count),
      String(startAt),
    ], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`worker exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").at(-1) ?? "") as { ok: number });
      } catch {
        reject(new Error(`worker printed ${out} ${err}`));
      }
    });
  });
}
