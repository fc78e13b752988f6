// Quota headroom (readHeadroom → aideazz_quota_headroom_ratio → the dashboard's "Quota headroom" card) must agree
// with what the router lets the next call do: a model blocked by a retry-after, a spend limit or an empty window
// reported without its limit has no headroom until then, whatever its refilled buckets hold.
import { afterEach, describe, expect, it } from "vitest";
import { M } from "../../src/metrics/mod.ts";
import { createQuota, readHeadroom } from "../../src/router/quota.ts";
import { startAnalytics } from "../dashboard/support.ts";
import { parsePrometheusText } from "../metrics/support/prom-parser.ts";
import { type Harness, startHarness } from "../orchestrator/harness.ts";
import { fakeClock, type TestStore, testStore } from "./providers/support.ts";

let h: Harness | undefined;
let ts: TestStore | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  await ts?.cleanup();
  ts = undefined;
});

describe("quota headroom of a blocked model", () => {
  it("reads 0 in every window while blocked (retry-after or spend limit), and the refilled share after", async () => {
    ts = await testStore();
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", { requestsPerMinute: 30, tokensPerDay: 100_000 });
    expect((await q.take("groq", "llama", 1_000)).ok).toBe(true);
    // The chain settles a 429's retry-after and a 402 spend limit the same way: blockForMs.
    await q.settle("groq", "llama", { takenTokens: 1_000, usedTokens: 1_000, blockForMs: 120_000 });
    const ratios = async () =>
      (await readHeadroom(ts!.store.client, clock.now())).map((x) => [x.window, x.ratio]);
    expect(await ratios()).toEqual([["rpm", 0], ["tpd", 0]]);
    clock.advance(119_999);
    expect(await ratios()).toEqual([["rpm", 0], ["tpd", 0]]);
    clock.advance(1);
    const after = await readHeadroom(ts.store.client, clock.now());
    expect(after.find((x) => x.window === "rpm")?.ratio).toBe(1);
    expect(after.find((x) => x.window === "tpd")?.ratio).toBeCloseTo(0.99, 2);
  });

  it("a window reported empty reads its refilled share; one reported empty without its limit reads 0 until its reset", async () => {
    ts = await testStore();
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", undefined);
    await q.ensure("other", "m", { requestsPerMinute: 30 });
    await q.settle("groq", "llama", {
      takenTokens: 0,
      usedTokens: 0,
      rateLimit: {
        windows: [{ unit: "tokens", period: "minute", limit: 6_000, remaining: 0, resetAt: clock.now() + 50_000 }],
      },
    });
    // Its limit unknown, its refill rate is too: blocked until the reset.
    await q.settle("other", "m", {
      takenTokens: 0,
      usedTokens: 0,
      rateLimit: { windows: [{ unit: "requests", period: "minute", remaining: 0, resetAt: clock.now() + 50_000 }] },
    });
    const ratio = async (provider: string) =>
      (await readHeadroom(ts!.store.client, clock.now())).find((x) => x.provider === provider)?.ratio;
    clock.advance(30_000); // half the minute's tokens have come back
    expect((await q.canUse("groq", "llama", 3_000)).ok).toBe(true);
    expect((await q.canUse("groq", "llama", 3_001)).ok).toBe(false);
    expect(await ratio("groq")).toBeCloseTo(0.5, 6);
    expect((await q.canUse("other", "m", 10)).ok).toBe(false);
    expect(await ratio("other")).toBe(0);
    clock.advance(20_000);
    expect((await q.canUse("other", "m", 10)).ok).toBe(true);
    expect(await ratio("other")).toBeCloseTo(50 / 60, 6);
  });

  it("a model Groq told to wait 120 s: readHeadroom, the gauge and the dashboard card all say 0", async () => {
    h = await startHarness({
      router: (url) => ({
        providers: {
          groq: {
            kind: "groq",
            baseUrl: url,
            model: "llama-3.1-8b-instant",
            apiKeyEnv: "GROQ_KEY",
            timeoutMs: 2000,
            limits: { requestsPerMinute: 30 },
          },
        },
        chain: ["groq"],
        retry: { maxAttempts: 1 },
      }),
      conversation: { maxAttempts: 5, retryBaseMs: 60_000 },
    });
    h.groq.script({ kind: "rate_limit", retryAfterS: 120 });
    await h.ask("c1", "Tell me something the FAQ does not know about quantum gardening");
    await h.waitForReplies(1); // the fallback ("back shortly"): the turn failed on the 429
    expect(h.modelCalls()).toBe(1);

    // The next question: the router does not call Groq (blocked until the retry-after has passed).
    await h.ask("c2", "Another question about quantum gardening");
    await h.waitForReplies(2);
    expect(h.modelCalls()).toBe(1);

    const headroom = await readHeadroom(h.store.client, Date.now());
    const rpm = headroom.find((x) => x.provider === "groq" && x.window === "rpm");
    expect(rpm, JSON.stringify(headroom)).toBeDefined();
    expect(rpm!.ratio).toBe(0);

    // The orchestrator's gauge, sampled every 10 s.
    let sample: number | undefined;
    const end = Date.now() + 12_000;
    while (Date.now() < end) {
      const text = await (await fetch(`http://127.0.0.1:${h.port}/metrics`)).text();
      const fam = parsePrometheusText(text).get(M.quotaHeadroom);
      sample = fam?.samples.find((s) => s.labels["window"] === "rpm")?.value;
      if (sample !== undefined) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(sample).toBe(0);

    // The dashboard's card, from the stored gauge.
    await h.agent.flush();
    const a = await startAnalytics(`file:${h.agent.store.path}`);
    try {
      const d = await (await fetch(`${a.base}/api/dashboard?window=15m`)).json();
      const row = d.quota.find((q: { label: string }) => q.label === "groq/llama-3.1-8b-instant rpm");
      expect(row, JSON.stringify(d.quota)).toBeDefined();
      expect(h.modelCalls()).toBe(1); // still blocked: nothing was sent since the 429
      expect(row.ratio).toBe(0);
    } finally {
      await a.running.stop();
    }
  }, 40_000);
});
