// RELIABILITY.md checklist D1–D6 against the router's provider layer, with fake Groq / Anthropic / llama servers.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import { AllProvidersFailedError } from "../../src/router/errors.ts";
import { SPEND_LIMIT_BLOCK_MS } from "../../src/router/chain.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { ask, harness } from "./providers/router-harness.ts";
import { fakeClock, seededRandom, type TestStore, testStore } from "./providers/support.ts";
import { KEYS } from "./providers/router-harness.ts";

let ts: TestStore;
let groq: FakeGroq;
let local: FakeGroq;
let claude: FakeAnthropic;
beforeEach(async () => {
  ts = await testStore();
  groq = await startFakeGroq({ apiKey: KEYS.GROQ_API_KEY, requestsPerMinute: 10_000 });
  local = await startFakeGroq({ prefix: "/v1", requestsPerMinute: 10_000 });
  claude = await startFakeAnthropic({ apiKey: KEYS.ANTHROPIC_API_KEY });
});
afterEach(async () => {
  await Promise.all([groq.close(), local.close(), claude.close()]);
  await ts.cleanup();
});

const providers = () => ({
  groq: { kind: "groq", baseUrl: groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_API_KEY" },
  local: { kind: "llama-cpp", baseUrl: local.url, model: "tiny", timeoutMs: 10_000 },
  claude: {
    kind: "anthropic",
    baseUrl: claude.url,
    model: "claude-haiku-4-5",
    apiKeyEnv: "ANTHROPIC_API_KEY",
  },
});
const prices = { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } };

const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe("D1: 429 with retry-after: 7", () => {
  it("falls back meanwhile, and the next attempt to that provider is at least 7 s later (also for later turns)", async () => {
    const clock = fakeClock();
    const h = await harness({ providers: providers(), chain: ["groq", "local"], budget: { prices } }, {
      store: ts,
      now: clock.now,
      sleep: clock.sleep,
    });
    groq.script({ kind: "rate_limit", retryAfterS: 7 });
    const first = await h.router.route(ask());
    expect(first.decision).toMatchObject({ provider: "local", reason: "fallback after groq rate_limit" });
    expect(first.decision.attempts.map((a) => [a.provider, a.outcome, a.reason])).toEqual([
      ["groq", "error", "rate_limit"],
      ["local", "ok", undefined],
    ]);
    clock.advance(3_000);
    const second = await h.router.route(ask());
    expect(second.decision.provider).toBe("local");
    expect(second.decision.attempts[0]).toMatchObject({
      provider: "groq",
      outcome: "skipped",
      reason: "quota",
    });
    expect(groq.requests).toHaveLength(1);
    clock.advance(4_000);
    const third = await h.router.route(ask());
    expect(third.decision).toMatchObject({ provider: "groq", reason: "first choice" });
    expect(groq.requests).toHaveLength(2);
    const [t1, t2] = h.sentAt.get(new URL(groq.url).origin) ?? [];
    expect(t2! - t1!).toBeGreaterThanOrEqual(7_000);
  });

  it("an overloaded answer's retry-after (529, 503) keeps the provider out of later turns too", async () => {
    const clock = fakeClock();
    const h = await harness({ providers: providers(), chain: ["claude", "groq"], budget: { prices } }, {
      store: ts,
      now: clock.now,
      sleep: clock.sleep,
    });
    claude.script({ kind: "overloaded", retryAfterS: 30 });
    expect((await h.router.route(ask())).decision).toMatchObject({ provider: "groq", reason: "fallback after claude overloaded" });
    clock.advance(5_000);
    const second = await h.router.route(ask());
    expect(second.decision.attempts[0]).toMatchObject({ provider: "claude", outcome: "skipped", reason: "quota" });
    expect(claude.requests).toHaveLength(1);
    clock.advance(25_000);
    expect((await h.router.route(ask())).decision).toMatchObject({ provider: "claude", reason: "first choice" });
    expect(claude.requests).toHaveLength(2);
  });

  it("with no other provider, retries after each retry-after, at most 3 attempts, then fails", async () => {
    const clock = fakeClock();
    const h = await harness({
      providers: providers(),
      chain: ["groq"],
      deadlineMs: 60_000,
      budget: { prices },
    }, { store: ts, now: clock.now, sleep: clock.sleep });
    groq.setDefault({ kind: "rate_limit", retryAfterS: 7 });
    const err = await rejection(h.router.route(ask()));
    expect(err).toBeInstanceOf(AllProvidersFailedError);
    expect((err as AllProvidersFailedError).failures).toEqual([{
      provider: "groq",
      reason: "rate_limit",
      status: 429,
      code: "rate_limit_exceeded", // Groq's error code, passed on
      attempts: 3,
      retryAt: clock.now() + 7_000, // the last retry-after: when a later turn may call it
    }]);
    const times = h.sentAt.get(new URL(groq.url).origin) ?? [];
    expect(times).toHaveLength(3);
    expect(groq.requests).toHaveLength(3);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(7_000);
  });
});

describe("D2: 100 concurrent calls get 529", () => {
  it("retry delays are capped and spread by jitter: no synchronized wave", async () => {
    // A request limit that holds the 300 attempts: the default 50 a minute would (rightly) hold most retries back.
    await claude.close();
    claude = await startFakeAnthropic({ apiKey: KEYS.ANTHROPIC_API_KEY, requestsPerMinute: 1_000 });
    const h = await harness({
      providers: { claude: { ...providers().claude, maxConcurrent: 100, timeoutMs: 5_000 } },
      chain: ["claude"],
      budget: { prices },
      retry: { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 800 },
      breaker: { failureThreshold: 10_000 },
    }, { store: ts, random: seededRandom(7) });
    claude.setDefault({ kind: "overloaded" });
    const results = await Promise.all(Array.from({ length: 100 }, () => rejection(h.router.route(ask()))));
    expect(results.every((r) => r instanceof AllProvidersFailedError)).toBe(true);
    expect(claude.requests).toHaveLength(300); // 3 attempts each, never more

    // The delays each caller scheduled (its failure record), independent of how busy the machine is.
    const delays = results.map((r) => (r as AllProvidersFailedError).attempts.map((a) => a.retryInMs));
    for (const d of delays) {
      expect(d).toHaveLength(3);
      expect(d[0]).toBeLessThan(500); // first retry: within the base
      expect(d[1]).toBeLessThan(800); // second: capped at 800, not 1,000
      expect(d[2]).toBeUndefined(); // no fourth attempt
    }
    const firsts = delays.map((d) => d[0]!);
    // Spread: 100 callers failing together come back across [0, 500) ms, roughly uniformly.
    const bins = new Array(10).fill(0) as number[];
    for (const d of firsts) bins[Math.min(9, Math.floor(d / 50))]!++;
    expect(Math.max(...bins)).toBeLessThanOrEqual(25); // a synchronized wave puts ~100 in one bin
    expect(bins.filter((n) => n > 0).length).toBeGreaterThanOrEqual(9);
    expect(new Set(firsts).size).toBeGreaterThanOrEqual(80);
    // And the server saw them arrive over time, not at once (loosely: a busy machine compresses arrivals).
    const retryArrivals = claude.requests.map((r) => r.at).sort((a, b) => a - b).slice(100, 200);
    expect(retryArrivals.at(-1)! - retryArrivals[0]!).toBeGreaterThan(200);
  });
});

describe("D3: 400/401/403 and spend-limit errors", () => {
  it("are not retried, fall back at once, alert, and never trip the breaker", async () => {
    const clock = fakeClock();
    const h = await harness({
      providers: providers(),
      chain: ["claude", "groq"],
      budget: { prices },
      breaker: { failureThreshold: 2 },
    }, { store: ts, now: clock.now, sleep: clock.sleep });
    const modes = [
      { kind: "unauthorized" },
      { kind: "error", status: 403, type: "permission_error" },
      { kind: "error", status: 400, type: "invalid_request_error", message: "prompt is too long" },
      { kind: "unauthorized" },
      { kind: "spend_limit" },
    ] as const;
    for (const [i, mode] of modes.entries()) {
      claude.script(mode);
      const { decision } = await h.router.route(ask());
      expect(decision.provider).toBe("groq");
      expect(claude.requests).toHaveLength(i + 1); // exactly one attempt, no retry
      expect(decision.attempts[0]).toMatchObject({ provider: "claude", outcome: "error" });
    }
    expect(decision0Kinds(h.log.lines)).toEqual(["auth", "auth", "bad_request", "auth", "spend_limit"]);
    expect(h.router.breakerStates()["claude"]).toBe("closed");
    claude.script({ kind: "ok" });
    // The spend limit leaves Claude out for a while (not called, no new alert), then it is asked again.
    expect((await h.router.route(ask())).decision.attempts[0]).toMatchObject({ provider: "claude", outcome: "skipped" });
    expect(claude.requests).toHaveLength(modes.length);
    clock.advance(SPEND_LIMIT_BLOCK_MS);
    expect((await h.router.route(ask())).decision.provider).toBe("claude");
  });
});

function decision0Kinds(lines: { level: string; msg: string; fields: Record<string, unknown> }[]): unknown[] {
  return lines.filter((l) => l.level === "error" && l.msg === "model provider needs an operator").map((l) =>
    l.fields["kind"]
  );
}

describe("D4: a provider down for 60 s", () => {
  it("opens the breaker after the threshold, sends zero calls while open, one probe when half-open", async () => {
    const clock = fakeClock();
    const h = await harness({
      providers: providers(),
      chain: ["groq", "local"],
      budget: { prices },
      retry: { maxAttempts: 1 },
      breaker: { failureThreshold: 3, windowMs: 60_000, cooldownMs: 20_000 },
    }, { store: ts, now: clock.now, sleep: clock.sleep });
    groq.setDefault({ kind: "server_error" });
    for (let i = 0; i < 3; i++) {
      expect((await h.router.route(ask())).decision.provider).toBe("local");
      clock.advance(1_000);
    }
    expect(h.router.breakerStates()["groq"]).toBe("open");
    const changes = h.log.lines.filter((l) => l.msg === "breaker changed");
    expect(changes.map((l) => l.fields)).toEqual([{ provider: "groq", previous: "closed", state: "open" }]);
    // As the agents' logger writes it: the states stay readable (a field named `from` would be hashed as an id).
    const written: string[] = [];
    const logger = createLogger({ agent: "orchestrator", secrets: Object.values(KEYS), write: (l) => void written.push(l) });
    logger.warn(changes[0]!.msg, changes[0]!.fields);
    expect(JSON.parse(written[0]!)).toMatchObject({ provider: "groq", previous: "closed", state: "open" });
    for (let i = 0; i < 10; i++) {
      const { decision } = await h.router.route(ask());
      expect(decision.attempts[0]).toMatchObject({
        provider: "groq",
        outcome: "skipped",
        reason: "breaker_open",
      });
      clock.advance(1_500);
    }
    expect(groq.requests).toHaveLength(3); // zero calls while open
    clock.advance(10_000); // cooldown passed: half-open, the provider is still down
    await Promise.all(Array.from({ length: 5 }, () => h.router.route(ask())));
    expect(groq.requests).toHaveLength(4); // exactly one probe among 5 concurrent turns
    expect(h.router.breakerStates()["groq"]).toBe("open");
    clock.advance(20_000);
    groq.setDefault({ kind: "ok" }); // back after ~60 s
    expect((await h.router.route(ask())).decision.provider).toBe("groq");
    expect(h.router.breakerStates()["groq"]).toBe("closed");
    await Promise.all(Array.from({ length: 3 }, () => h.router.route(ask())));
    expect(groq.requests).toHaveLength(8);
  });
});

describe("D5: a provider that streams forever", () => {
  it("is aborted at its timeout with the socket closed, and the chain falls back", async () => {
    const h = await harness({
      providers: { ...providers(), groq: { ...providers().groq, timeoutMs: 300 } },
      chain: ["groq", "local"],
      budget: { prices },
      retry: { maxAttempts: 1 },
    }, { store: ts });
    groq.script({ kind: "stream_forever" });
    const t0 = performance.now();
    const { decision } = await h.router.route(ask());
    expect(decision.provider).toBe("local");
    expect(decision.attempts[0]).toMatchObject({ provider: "groq", outcome: "error", reason: "timeout" });
    expect(decision.attempts[0]!.latencyMs).toBeGreaterThanOrEqual(290);
    expect(performance.now() - t0).toBeLessThan(3_000);
    await groq.server.waitForClientClosed(1);
    expect(groq.server.inFlight).toBe(0);
  });

  it("the overall deadline aborts an attempt whose own timeout is longer", async () => {
    const h = await harness({
      providers: { local: { ...providers().local, timeoutMs: 30_000 } },
      chain: ["local"],
    }, { store: ts });
    local.setDefault({ kind: "stream_forever" });
    const t0 = performance.now();
    const err = await rejection(h.router.route({ ...ask(), deadlineMs: 400 }));
    expect(err).toBeInstanceOf(AllProvidersFailedError);
    expect((err as AllProvidersFailedError).failures[0]).toMatchObject({ reason: "timeout" });
    expect(performance.now() - t0).toBeLessThan(1_500);
    await local.server.waitForClientClosed(1);
  });
});

describe("D6: all providers down", () => {
  it("every turn fails with AllProvidersFailedError within the deadline; calls in flight never exceed the bulkheads", async () => {
    const h = await harness({
      providers: {
        groq: { ...providers().groq, timeoutMs: 200, maxConcurrent: 2 },
        local: { ...providers().local, timeoutMs: 200, maxConcurrent: 3 },
      },
      chain: ["groq", "local"],
      deadlineMs: 1_500,
      retry: { baseDelayMs: 50, maxDelayMs: 200 },
      breaker: { failureThreshold: 1_000 },
    }, { store: ts });
    groq.setDefault({ kind: "hang" });
    local.setDefault({ kind: "server_error" });
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 30 }, async () => {
      const err = await rejection(h.router.route(ask()));
      return { err, ms: performance.now() - t0 };
    }));
    for (const r of results) {
      expect(r.err).toBeInstanceOf(AllProvidersFailedError);
      expect(r.ms).toBeLessThan(1_500 + 1_000); // the deadline, plus settling on a busy machine
    }
    expect(groq.server.maxInFlight).toBeLessThanOrEqual(2);
    expect(local.server.maxInFlight).toBeLessThanOrEqual(3);
    expect(groq.requests.length).toBeGreaterThan(0);
    const reasons = new Set(
      results.flatMap((r) => (r.err as AllProvidersFailedError).failures.map((f) => f.reason)),
    );
    expect([...reasons].every((x) => ["timeout", "server", "bulkhead_full", "deadline"].includes(x))).toBe(
      true,
    );
  });
});

describe("D6: a healthy but slow provider", () => {
  const slowGroq = (maxConcurrent: number) => ({ ...providers().groq, timeoutMs: 400, maxConcurrent });
  it("with no other provider, turns beyond its concurrency wait for a slot up to the deadline: every one answered", async () => {
    const h = await harness({ providers: { groq: slowGroq(2) }, chain: ["groq"], deadlineMs: 5_000 }, { store: ts });
    groq.setDefault({ kind: "ok", delayMs: 250 });
    // 8 turns, 2 at a time, 250 ms each: the last wait ~750 ms in the queue, past the provider's 400 ms timeout.
    const results = await Promise.all(Array.from({ length: 8 }, () => h.router.route(ask())));
    expect(results.map((r) => r.decision.provider)).toEqual(Array(8).fill("groq"));
    expect(groq.server.maxInFlight).toBe(2);
  });

  it("with another provider, a turn waits at most the provider's timeout for a slot, then falls back", async () => {
    const h = await harness({ providers: { groq: slowGroq(2), local: providers().local }, chain: ["groq", "local"], deadlineMs: 5_000 }, {
      store: ts,
    });
    groq.setDefault({ kind: "ok", delayMs: 250 });
    const results = await Promise.all(Array.from({ length: 8 }, () => h.router.route(ask())));
    const by = results.map((r) => r.decision.provider);
    expect(by.filter((p) => p === "groq").length).toBeGreaterThanOrEqual(4);
    expect(by.filter((p) => p === "local").length).toBeGreaterThan(0);
    expect(results.find((r) => r.decision.provider === "local")!.decision.attempts[0]).toMatchObject({
      provider: "groq",
      outcome: "skipped",
      reason: "bulkhead_full",
    });
  });

  // A slow local model gets most of the turn's time. A turn waited for its slot up to that whole timeout; granted
  // late, the call had only what was left, the deadline cut it, and the next provider was never asked: the visitor
  // got the fallback notice while that provider was healthy.
  it("with another provider, a turn waits for a slot only while the call would keep its whole timeout", async () => {
    const h = await harness({
      providers: {
        local: { ...providers().local, timeoutMs: 3_000 },
        groq: { ...providers().groq, timeoutMs: 1_000 },
      },
      chain: ["local", "groq"],
      deadlineMs: 4_000,
      retry: { maxAttempts: 1 },
    }, { store: ts });
    local.script({ kind: "ok", delayMs: 2_000 }); // the first turn holds the one slot for 2 s
    local.setDefault({ kind: "hang" }); // a call the second turn made would need more than it has left
    const first = h.router.route(ask());
    await new Promise((r) => setTimeout(r, 50));
    const second = await h.router.route(ask());
    expect(second.decision).toMatchObject({ provider: "groq", reason: "fallback after local bulkhead_full" });
    expect((await first).decision.provider).toBe("local");
    expect(local.requests).toHaveLength(1);
  });
});
