// The fallback walker as the orchestrator uses it: classes pick chains, quotas route around Groq before its
// 429, the budget degrades Claude → Groq → local → cache-only, bugs surface, decisions are recorded.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ChainEntry, createModelRouter } from "../../src/router/chain.ts";
import { resolveRouterSettings, routerSchema } from "../../src/router/config.ts";
import { AllProvidersFailedError } from "../../src/router/errors.ts";
import type { ChatProvider } from "../../src/router/providers/types.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { ask, harness, KEYS, stubEntry } from "./providers/router-harness.ts";
import { fakeClock, type TestStore, testStore } from "./providers/support.ts";

let ts: TestStore;
let groq: FakeGroq;
let local: FakeGroq;
let claude: FakeAnthropic;
const clock = fakeClock();
beforeEach(async () => {
  clock.set(Date.UTC(2030, 0, 15, 12));
  ts = await testStore();
  groq = await startFakeGroq({ apiKey: KEYS.GROQ_API_KEY, requestsPerMinute: 3, now: clock.now });
  local = await startFakeGroq({ prefix: "/v1", requestsPerMinute: 10_000 });
  claude = await startFakeAnthropic({ apiKey: KEYS.ANTHROPIC_API_KEY });
});
afterEach(async () => {
  await Promise.all([groq.close(), local.close(), claude.close()]);
  await ts.cleanup();
});

const providers = () => ({
  groq: {
    kind: "groq",
    baseUrl: groq.url,
    model: "llama-3.1-8b-instant",
    apiKeyEnv: "GROQ_API_KEY",
    limits: { requestsPerMinute: 3 },
  },
  local: { kind: "llama-cpp", baseUrl: local.url, model: "tiny", timeoutMs: 10_000 },
  claude: {
    kind: "anthropic",
    baseUrl: claude.url,
    model: "claude-haiku-4-5",
    apiKeyEnv: "ANTHROPIC_API_KEY",
  },
});
const prices = { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } };
const tiers = {
  simple: ["groq", "local"],
  complex: ["groq", "claude", "local"],
  "high-value": ["claude", "groq", "local"],
};

const entry = (provider: ChatProvider) => stubEntry(provider, clock.now);

/** A router whose chain is `entries`, in order (their config is a placeholder: the entries are what runs). */
const stubRouter = (entries: Map<string, ChainEntry>) => {
  const placeholder = { kind: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1", model: "m" };
  const providers = Object.fromEntries([...entries.keys()].map((name) => [name, placeholder]));
  return harness({ providers, chain: [...entries.keys()] }, { store: ts, now: clock.now, sleep: clock.sleep, entries });
};

describe("chain", () => {
  it("the turn's class picks the chain from config", async () => {
    const h = await harness({ providers: providers(), tiers, budget: { prices } }, {
      store: ts,
      now: clock.now,
      sleep: clock.sleep,
    });
    const hv = await h.router.route({
      ...ask("ok let's do it"),
      turn: { text: "ok let's do it", leadQualified: true },
    });
    expect(hv.decision).toMatchObject({ tier: "high-value", provider: "claude", reason: "first choice" });
    const simple = await h.router.route({ ...ask("hours?"), turn: { text: "What are your hours?" } });
    expect(simple.decision).toMatchObject({ tier: "simple", provider: "groq" });
    expect(h.router.classify({ text: "Why was I charged twice?" }).tier).toBe("complex");
  });

  it("records the decision: tier, provider, model, reason, latency, tokens, cost, attempts", async () => {
    const h = await harness({ providers: providers(), tiers, budget: { prices } }, {
      store: ts,
      now: clock.now,
      sleep: clock.sleep,
    });
    claude.script({ kind: "overloaded" });
    const { response, decision } = await h.router.route({ ...ask(), tier: "high-value" });
    expect(response).toMatchObject({ provider: "groq", text: "Hello from the fake Groq." });
    expect(decision).toMatchObject({
      tier: "high-value",
      provider: "groq",
      model: "llama-3.1-8b-instant",
      reason: "fallback after claude overloaded",
      costUsd: 0,
      tokens: response.usage,
    });
    expect(decision.attempts.map((a) => [a.provider, a.outcome, a.reason, a.status])).toEqual([
      ["claude", "error", "overloaded", 529],
      ["groq", "ok", undefined, undefined],
    ]);
    const paid = await h.router.route({ ...ask(), tier: "high-value" });
    expect(paid.decision.provider).toBe("claude");
    const { inputTokens, outputTokens } = paid.decision.tokens;
    expect(paid.decision.costUsd).toBeCloseTo((inputTokens * 1 + outputTokens * 5) / 1e6, 9);
  });

  it("quotas route around Groq before it answers 429, and return to it when the bucket refills", async () => {
    const h = await harness({ providers: providers(), chain: ["groq", "local"], budget: { prices } }, {
      store: ts,
      now: clock.now,
      sleep: clock.sleep,
    });
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push((await h.router.route(ask())).decision);
    expect(decisions.map((d) => d.provider)).toEqual(["groq", "groq", "groq", "local", "local"]);
    expect(decisions[3]?.attempts[0]).toMatchObject({
      provider: "groq",
      outcome: "skipped",
      reason: "quota",
    });
    expect(groq.requests).toHaveLength(3);
    expect(decisions.flatMap((d) => d.attempts).some((a) => a.reason === "rate_limit")).toBe(false); // never a 429
    clock.advance(20_000); // one request per 20 s refills
    expect((await h.router.route(ask())).decision.provider).toBe("groq");
  });

  it("a configured limit below the provider's holds: Groq's remaining (of its own, larger limit) does not refill it", async () => {
    // The operator leaves most of the key's 14,400 requests a day to another program: 3 a day for the bot.
    const groqLimited = { ...providers().groq, limits: { requestsPerDay: 3 } };
    const h = await harness({ providers: { ...providers(), groq: groqLimited }, chain: ["groq", "local"], budget: { prices } }, {
      store: ts,
      now: clock.now,
      sleep: clock.sleep,
    });
    const served = [];
    for (let i = 0; i < 6; i++) {
      served.push((await h.router.route(ask())).decision.provider);
      clock.advance(30_000); // under the fake's own 3 requests a minute
    }
    expect(served).toEqual(["groq", "groq", "groq", "local", "local", "local"]);
    expect(groq.requests).toHaveLength(3);
  });

  it("the quota is shared through the store: a second router (another process) sees what the first took", async () => {
    const h1 = await harness({ providers: providers(), chain: ["groq", "local"], budget: { prices } }, {
      store: ts,
      now: clock.now,
      sleep: clock.sleep,
    });
    for (let i = 0; i < 3; i++) await h1.router.route(ask());
    const other = await ts.reopen();
    const h2 = await harness({ providers: providers(), chain: ["groq", "local"], budget: { prices } }, {
      store: { ...ts, store: other },
      now: clock.now,
      sleep: clock.sleep,
    });
    expect((await h2.router.route(ask())).decision.provider).toBe("local");
    expect(groq.requests).toHaveLength(3);
  });

  it("as the budget runs out, traffic degrades Claude → Groq → local, then fails for cache-only; $0 local is never blocked", async () => {
    // A Claude call reserves ≈24 input + 200 output tokens ≈ $0.001; the first spends ≈$0.0008 (a long answer),
    // after which the next reservation does not fit the $0.0015 cap.
    claude.script({ kind: "ok", text: "word ".repeat(150).trim() });
    const h = await harness({
      providers: providers(),
      tiers,
      budget: { prices, dailyUsd: 0.0015, lowFraction: 0 },
      retry: { maxAttempts: 1 },
    }, { store: ts, now: clock.now, sleep: clock.sleep });
    const route = async () => (await h.router.route({ ...ask(), tier: "high-value" })).decision;
    expect((await route()).provider).toBe("claude");
    const second = await route();
    expect(second.provider).toBe("groq");
    expect(second.attempts[0]).toMatchObject({ provider: "claude", outcome: "skipped", reason: "budget" });
    await route();
    await route(); // Groq's 3/min are used up
    const local1 = await route();
    expect(local1.provider).toBe("local");
    expect(local1.attempts.map((a) => a.reason)).toEqual(["budget", "quota", undefined]);
    expect(claude.requests).toHaveLength(1);
    local.setDefault({ kind: "server_error" });
    const err = await h.router.route({ ...ask(), tier: "high-value" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AllProvidersFailedError);
    expect((err as AllProvidersFailedError).failures.map((f) => [f.provider, f.reason])).toEqual([
      ["claude", "budget"],
      ["groq", "quota"],
      ["local", "server"],
    ]);
    expect((err as Error).message).toContain("no provider answered the high-value turn");
  });

  it("below the low-water mark Claude serves only high-value turns", async () => {
    const h = await harness({
      providers: providers(),
      tiers,
      budget: { prices, dailyUsd: 0.003, lowFraction: 0.5 },
      retry: { maxAttempts: 1 },
    }, { store: ts, now: clock.now, sleep: clock.sleep });
    groq.setDefault({ kind: "server_error" });
    claude.script({ kind: "ok", text: "word ".repeat(150).trim() }); // spends ≈$0.0008 of $0.003
    const complex = await h.router.route({ ...ask(), tier: "complex" });
    expect(complex.decision.provider).toBe("claude"); // plenty left
    const complex2 = await h.router.route({ ...ask(), tier: "complex" });
    expect(complex2.decision.provider).toBe("local"); // below 50% left: Claude skipped for complex turns
    expect(complex2.decision.attempts.find((a) => a.provider === "claude")).toMatchObject({
      reason: "budget",
    });
    const hv = await h.router.route({ ...ask(), tier: "high-value" });
    expect(hv.decision.provider).toBe("claude");
  });

  it("a bug (anything but ProviderError) is rethrown, not fallen back, and releases the bulkhead and breaker", async () => {
    const buggy: ChatProvider = {
      name: "buggy",
      kind: "openai-compatible",
      chat: () => Promise.reject(new TypeError("x is undefined")),
    };
    const calls: string[] = [];
    const fine: ChatProvider = {
      name: "fine",
      kind: "llama-cpp",
      chat: (req) => {
        calls.push(req.model);
        return Promise.resolve({
          text: "ok",
          usage: { inputTokens: 1, outputTokens: 1 },
          model: req.model,
          provider: "fine",
          finishReason: "stop",
        });
      },
    };
    const entries = new Map([["buggy", entry(buggy)], ["fine", entry(fine)]]);
    const h = await stubRouter(entries);
    await expect(h.router.route(ask())).rejects.toThrow(TypeError);
    expect(calls).toEqual([]);
    expect(entries.get("buggy")?.bulkhead.inFlight).toBe(0);
    expect(h.router.breakerStates()["buggy"]).toBe("closed");
  });

  it("an empty answer falls back to the next provider without a retry or tripping the breaker", async () => {
    const answering = (name: string, text: string): ChatProvider => ({
      name,
      kind: "openai-compatible",
      chat: (req) => {
        calls.push(name);
        return Promise.resolve({
          text,
          usage: { inputTokens: 5, outputTokens: 0 },
          model: req.model,
          provider: name,
          finishReason: "stop",
        });
      },
      async *stream(req) {
        calls.push(`${name} stream`);
        yield { type: "delta", text };
        yield { type: "end", finishReason: "stop", model: req.model };
      },
    });
    const calls: string[] = [];
    const h = await stubRouter(new Map([["mute", entry(answering("mute", " \n"))], ["fine", entry(answering("fine", "Hello!"))]]));
    const { response, decision } = await h.router.route(ask());
    expect(response.text).toBe("Hello!");
    expect(calls).toEqual(["mute", "fine"]);
    expect(decision.reason).toBe("fallback after mute empty");
    expect(h.router.breakerStates()["mute"]).toBe("closed");
    // Streamed: a blank start shows the user nothing, so the next provider may still answer.
    const seen: string[] = [];
    const streamed = await h.router.routeStream(ask(), (t) => seen.push(t));
    expect(streamed.response.text).toBe("Hello!");
    expect(calls.slice(2)).toEqual(["mute stream", "fine stream"]);
    expect(seen).toEqual(["Hello!"]);
  });

  it("a caller's abort (shutdown) ends the walk with the caller's reason", async () => {
    const h = await harness({ providers: providers(), chain: ["local"], budget: { prices } }, { store: ts });
    local.setDefault({ kind: "hang" });
    const ctl = new AbortController();
    const reason = new Error("agent stopping");
    setTimeout(() => ctl.abort(reason), 100);
    await expect(h.router.route({ ...ask(), signal: ctl.signal })).rejects.toBe(reason);
    await local.server.waitForClientClosed(1);
  });

  it("refuses to start when a provider's key is not set, naming the variable but no value", async () => {
    const settings = resolveRouterSettings(
      routerSchema.parse({ providers: { groq: providers().groq }, chain: ["groq"] }),
    );
    await expect(createModelRouter(settings, {
      client: ts.store.client,
      fetch,
      env: {},
      now: clock.now,
      random: Math.random,
      sleep: clock.sleep,
    })).rejects.toThrow('provider "groq": its API key is not set (GROQ_API_KEY)');
  });

  it("an empty chain fails at once with a clear message", async () => {
    // The config check refuses an empty tier and providers that no chain names, but a llama-cpp provider alone
    // (for the OpenAI endpoint's `local` model) leaves every chain empty.
    const h = await harness({ providers: { local: providers().local }, chain: [] }, {
      store: ts,
      now: clock.now,
      sleep: clock.sleep,
    });
    const err = await h.router.route(ask()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AllProvidersFailedError);
    expect((err as Error).message).toBe("no provider answered the simple turn: the chain is empty");
  });

  /** Claude (priced, 200 ms timeout) then the free local model, one attempt each, a $10 daily budget. */
  const paidThenLocal = () =>
    harness({
      providers: { ...providers(), claude: { ...providers().claude, timeoutMs: 200 } },
      chain: ["claude", "local"],
      budget: { prices, dailyUsd: 10 },
      retry: { maxAttempts: 1 },
    }, { store: ts });

  it("a timed-out paid call is charged its reservation (it may have been billed); a refused one costs nothing", async () => {
    const h = await paidThenLocal();
    claude.script({ kind: "hang" }, { kind: "overloaded" });
    await h.router.route(ask());
    const afterTimeout = await h.router.budget.status();
    expect(afterTimeout.daySpentUsd).toBeGreaterThan(0);
    expect(afterTimeout.dayReservedUsd).toBe(0);
    await h.router.route(ask());
    expect((await h.router.budget.status()).daySpentUsd).toBe(afterTimeout.daySpentUsd);
  });

  it("an empty paid answer is charged what it reported, not its whole reservation", async () => {
    const h = await paidThenLocal();
    claude.script({ kind: "hang" }, { kind: "ok", text: "", stopReason: "refusal" });
    await h.router.route(ask());
    const reservation = (await h.router.budget.status()).daySpentUsd; // a timeout is charged its reservation
    expect((await h.router.route(ask())).response.provider).toBe("local");
    const empty = (await h.router.budget.status()).daySpentUsd - reservation;
    expect(empty).toBeGreaterThan(0);
    expect(empty).toBeLessThan(reservation / 2);
  });
});
