import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAIRateLimit } from "../../src/router/providers/ratelimit.ts";
import { createQuota } from "../../src/router/quota.ts";
import { fakeClock, type TestStore, testStore } from "./providers/support.ts";

let ts: TestStore;
beforeEach(async () => (ts = await testStore()));
afterEach(() => ts.cleanup());

describe("quota", () => {
  it("takes requests until the per-minute bucket is empty, then says when one fits again", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", { requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect(await q.take("groq", "llama", 10)).toEqual({ ok: true });
    expect(await q.take("groq", "llama", 10)).toEqual({
      ok: false,
      reason: "rpm",
      retryAt: clock.now() + 20_000,
    });
    clock.advance(20_000);
    expect(await q.canUse("groq", "llama", 10)).toEqual({ ok: true });
    expect(await q.take("groq", "llama", 10)).toEqual({ ok: true });
    expect((await q.take("groq", "llama", 10)).ok).toBe(false);
  });

  it("checks tokens per minute and per day with one request's estimate; nothing is taken when one bucket says no", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", { requestsPerMinute: 100, tokensPerMinute: 1_000, tokensPerDay: 2_000 });
    expect((await q.take("groq", "llama", 800)).ok).toBe(true);
    expect(await q.take("groq", "llama", 800)).toMatchObject({
      ok: false,
      reason: "tpm",
      retryAt: clock.now() + 36_000,
    });
    clock.advance(60_000);
    expect((await q.take("groq", "llama", 800)).ok).toBe(true);
    clock.advance(60_000);
    expect(await q.take("groq", "llama", 800)).toMatchObject({ ok: false, reason: "tpd" });
    expect((await q.take("groq", "llama", 350)).ok).toBe(true);
    // The refused takes consumed nothing: 3 requests were taken within ~2 minutes of a 100/min bucket.
    const row = (await ts.store.client.execute("SELECT rpm_avail, tpd_avail FROM router_quota")).rows[0];
    expect(Number(row?.["rpm_avail"])).toBeCloseTo(99, 0);
    expect(Number(row?.["tpd_avail"])).toBeGreaterThanOrEqual(50);
  });

  it("gives back unused tokens when the call used fewer than estimated", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", { tokensPerMinute: 1_000 });
    expect((await q.take("groq", "llama", 900)).ok).toBe(true);
    await q.settle("groq", "llama", { takenTokens: 900, usedTokens: 100 });
    expect((await q.take("groq", "llama", 800)).ok).toBe(true);
  });

  it("gives back no more than it took: a request estimated over the bucket's limit took only the limit", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("p", "m", { tokensPerMinute: 6_000 });
    expect((await q.take("p", "m", 10_000)).ok).toBe(true);
    await q.settle("p", "m", { takenTokens: 10_000, usedTokens: 3_000 });
    expect(await q.canUse("p", "m", 5_000)).toMatchObject({ ok: false, reason: "tpm" }); // 3,000 left, not 6,000
    expect((await q.canUse("p", "m", 3_000)).ok).toBe(true);
  });

  it("corrects from the provider's headers: remaining replaces the estimate, a learned limit applies", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", undefined);
    expect((await q.take("groq", "llama", 50)).ok).toBe(true);
    await q.settle("groq", "llama", {
      takenTokens: 50,
      usedTokens: 50,
      rateLimit: {
        windows: [
          { unit: "requests", period: "day", limit: 1_000, remaining: 2, resetAt: clock.now() + 3_600_000 },
          { unit: "tokens", period: "minute", limit: 6_000, remaining: 5_950, resetAt: clock.now() + 500 },
        ],
      },
    });
    expect((await q.take("groq", "llama", 50)).ok).toBe(true);
    expect((await q.take("groq", "llama", 50)).ok).toBe(true);
    expect(await q.take("groq", "llama", 50)).toMatchObject({ ok: false, reason: "rpd" });
  });

  // A stream's headers come at its start and are settled at its end, seconds later: the calls taken meanwhile are
  // not in them. Replacing the estimate by them gave those calls' tokens back, and more calls went out than the
  // window holds (Groq's 429s).
  it("a remaining from before calls still in flight does not give their tokens back", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", undefined);
    const tokens = (remaining: number) => ({
      windows: [{ unit: "tokens" as const, period: "minute" as const, limit: 6_000, remaining }],
    });
    await q.settle("groq", "llama", { takenTokens: 0, usedTokens: 0, rateLimit: tokens(6_000) });
    for (let i = 0; i < 3; i++) expect((await q.take("groq", "llama", 2_000)).ok).toBe(true);
    expect((await q.take("groq", "llama", 2_000)).ok).toBe(false);
    // The first call ends; its headers, sent when it started, count it alone.
    await q.settle("groq", "llama", { takenTokens: 2_000, usedTokens: 2_000, rateLimit: tokens(4_000) });
    expect(await q.take("groq", "llama", 2_000)).toMatchObject({ ok: false, reason: "tpm" });
    // A remaining below the estimate (another client of the key) still lowers it.
    clock.advance(60_000);
    await q.settle("groq", "llama", { takenTokens: 0, usedTokens: 0, rateLimit: tokens(1_000) });
    expect((await q.take("groq", "llama", 1_000)).ok).toBe(true);
    expect((await q.take("groq", "llama", 1)).ok).toBe(false);
  });

  it("a remaining reported without its limit does not refill a configured limit below it", async () => {
    // A server that sends x-ratelimit-remaining-* but no x-ratelimit-limit-*: the remaining may be of a larger limit
    // than the operator's share (requestsPerDay: 3), so it can only lower the estimate.
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", { requestsPerDay: 3 });
    const served = [];
    for (let i = 0; i < 5; i++) {
      const ok = (await q.take("groq", "llama", 10)).ok;
      served.push(ok);
      if (!ok) continue;
      await q.settle("groq", "llama", {
        takenTokens: 10,
        usedTokens: 10,
        rateLimit: { windows: [{ unit: "requests", period: "day", remaining: 14_000 - i }] },
      });
      clock.advance(1_000);
    }
    expect(served).toEqual([true, true, true, false, false]);
  });

  it("a learned limit follows the provider's: one it raises (a paid tier) is used; a configured one still caps it", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", undefined);
    await q.ensure("groq", "capped", { requestsPerDay: 4 });
    const report = (limit: number, remaining: number) => ({
      takenTokens: 0,
      usedTokens: 0,
      rateLimit: { windows: [{ unit: "requests" as const, period: "day" as const, limit, remaining }] },
    });
    for (const model of ["llama", "capped"]) await q.settle("groq", model, report(2, 2));
    clock.advance(86_400_000);
    for (const model of ["llama", "capped"]) await q.settle("groq", model, report(1_000, 1_000));
    clock.advance(86_400_000);
    const served = async (model: string) => {
      const out = [];
      for (let i = 0; i < 6; i++) out.push((await q.take("groq", model, 10)).ok);
      return out;
    };
    expect(await served("llama")).toEqual([true, true, true, true, true, true]);
    expect(await served("capped")).toEqual([true, true, true, true, false, false]);
  });

  // Groq's and Anthropic's limits refill continuously; the reset is when the window is full again. Blocking until
  // then kept Groq out for up to a day once its daily requests were used, though one came back every 6 s.
  it("a window reported empty refills at the rate its reset implies: Groq's daily requests come back one every 6 s", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", undefined);
    const headers = new Headers({
      "x-ratelimit-limit-requests": "14400",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "24h0m0s",
      "x-ratelimit-limit-tokens": "18000",
      "x-ratelimit-remaining-tokens": "17000",
      "x-ratelimit-reset-tokens": "3.33s",
    });
    const rateLimit = openAIRateLimit(headers, clock.now(), { requests: "day", tokens: "minute" });
    await q.settle("groq", "llama", { takenTokens: 0, usedTokens: 0, rateLimit });
    expect(await q.take("groq", "llama", 10)).toEqual({ ok: false, reason: "rpd", retryAt: clock.now() + 6_000 });
    clock.advance(5_999);
    expect((await q.canUse("groq", "llama", 10)).ok).toBe(false);
    clock.advance(1);
    expect((await q.canUse("groq", "llama", 10)).ok).toBe(true);
    expect((await q.take("groq", "llama", 10)).ok).toBe(true);
    // One came back, not more.
    expect(await q.take("groq", "llama", 10)).toEqual({ ok: false, reason: "rpd", retryAt: clock.now() + 6_000 });
  });

  it("a window reported empty is full no sooner than its reset, even one further off than its period", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("p", "m", undefined);
    await q.settle("p", "m", {
      takenTokens: 0,
      usedTokens: 0,
      rateLimit: {
        windows: [{ unit: "tokens", period: "minute", limit: 6_000, remaining: 0, resetAt: clock.now() + 120_000 }],
      },
    });
    expect(await q.take("p", "m", 6_000)).toEqual({ ok: false, reason: "tpm", retryAt: clock.now() + 120_000 });
    // At the bucket's 100 a second, 10 tokens 100 ms after the point from which it is full at the reset.
    expect(await q.take("p", "m", 10)).toEqual({ ok: false, reason: "tpm", retryAt: clock.now() + 60_100 });
    clock.advance(119_999);
    expect((await q.take("p", "m", 6_000)).ok).toBe(false);
    clock.advance(1);
    expect((await q.take("p", "m", 6_000)).ok).toBe(true);
  });

  it("a window reported empty without its limit blocks until its reset (its refill rate is unknown)", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("p", "m", { requestsPerMinute: 100 });
    await q.settle("p", "m", {
      takenTokens: 0,
      usedTokens: 0,
      rateLimit: { windows: [{ unit: "requests", period: "minute", remaining: 0, resetAt: clock.now() + 7_660 }] },
    });
    expect(await q.take("p", "m", 10)).toEqual({ ok: false, reason: "blocked", retryAt: clock.now() + 7_660 });
    clock.advance(7_660);
    expect((await q.take("p", "m", 10)).ok).toBe(true);
  });

  it("a 429's retry-after blocks the model (and only that model) until then", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", undefined);
    await q.ensure("groq", "mixtral", undefined);
    await q.settle("groq", "llama", { takenTokens: 10, usedTokens: 0, blockForMs: 7_000 });
    expect(await q.take("groq", "llama", 10)).toEqual({
      ok: false,
      reason: "blocked",
      retryAt: clock.now() + 7_000,
    });
    expect((await q.take("groq", "mixtral", 10)).ok).toBe(true);
    clock.advance(6_999);
    expect((await q.canUse("groq", "llama", 10)).ok).toBe(false);
    clock.advance(1);
    expect((await q.take("groq", "llama", 10)).ok).toBe(true);
  });

  it("survives a restart: a reopened store sees the spent buckets", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", { requestsPerDay: 2 });
    await q.take("groq", "llama", 1);
    await q.take("groq", "llama", 1);
    ts.store.close();
    const reopened = await ts.reopen();
    const q2 = createQuota({ client: reopened.client, now: clock.now });
    await q2.ensure("groq", "llama", { requestsPerDay: 2 });
    expect(await q2.take("groq", "llama", 1)).toMatchObject({ ok: false, reason: "rpd" });
  });

  // A limit the operator deleted (a paid Groq tier) once stayed in the row for good: Groq reports no per-minute
  // requests, so nothing corrected it, and the traffic over it went to Claude or the local model.
  it("a limit deleted from the config stops applying at the next start; one the provider reported lower stays", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", { requestsPerMinute: 2, requestsPerDay: 1_000 });
    const reported = { windows: [{ unit: "requests" as const, period: "day" as const, limit: 500, remaining: 500 }] };
    await q.settle("groq", "llama", { takenTokens: 0, usedTokens: 0, rateLimit: reported });
    for (let i = 0; i < 2; i++) expect((await q.take("groq", "llama", 1)).ok).toBe(true);
    expect(await q.take("groq", "llama", 1)).toMatchObject({ ok: false, reason: "rpm" });
    // Another process that only takes does not undo the config.
    const reader = createQuota({ client: ts.store.client, now: clock.now });
    expect(await reader.take("groq", "llama", 1)).toMatchObject({ ok: false, reason: "rpm" });
    const restarted = createQuota({ client: ts.store.client, now: clock.now });
    await restarted.ensure("groq", "llama", undefined);
    for (let i = 0; i < 5; i++) expect((await restarted.take("groq", "llama", 1)).ok).toBe(true);
    const row = await ts.store.client.execute("SELECT rpm_limit, rpd_limit FROM router_quota");
    expect(row.rows[0]).toMatchObject({ rpm_limit: null, rpd_limit: 500 });
  });

  it("concurrent takes never exceed the bucket (one statement per take)", async () => {
    const clock = fakeClock();
    const a = createQuota({ client: ts.store.client, now: clock.now });
    const other = await ts.reopen();
    const b = createQuota({ client: other.client, now: clock.now });
    await a.ensure("groq", "llama", { requestsPerMinute: 30 });
    await b.ensure("groq", "llama", { requestsPerMinute: 30 });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).take("groq", "llama", 1)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(30);
  });
});

describe("quota without limits", () => {
  it("a model with no limits is checked by a read, still honours a block, and adopts a limit its provider reports", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("local", "tiny", undefined);
    for (let i = 0; i < 3; i++) expect((await q.take("local", "tiny", 100)).ok).toBe(true);
    await q.settle("local", "tiny", { takenTokens: 100, usedTokens: 10 }); // nothing to correct: no write
    await q.settle("local", "tiny", { takenTokens: 100, usedTokens: 10, blockForMs: 5_000 });
    expect(await q.take("local", "tiny", 100)).toMatchObject({ ok: false, reason: "blocked" });
    clock.advance(5_000);
    await q.settle("local", "tiny", {
      takenTokens: 0,
      usedTokens: 0,
      rateLimit: { windows: [{ unit: "requests", period: "minute", limit: 2, remaining: 1 }] },
    });
    expect((await q.take("local", "tiny", 100)).ok).toBe(true);
    expect(await q.take("local", "tiny", 100)).toMatchObject({ ok: false, reason: "rpm" });
  });
});
