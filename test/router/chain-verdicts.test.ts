// The fallback walker's verdicts on a cut attempt (src/router/chain.ts), against the fake servers: a cut by the turn's
// deadline is not the provider's failure, and a call stopped before its request left is charged nothing.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createBreaker } from "../../src/router/breaker.ts";
import type { ChainEntry } from "../../src/router/chain.ts";
import { AllProvidersFailedError } from "../../src/router/errors.ts";
import { createBulkhead } from "../../src/router/providers/bulkhead.ts";
import { createOpenAICompatibleProvider } from "../../src/router/providers/openai-compatible.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { ask, harness, KEYS } from "../router/providers/router-harness.ts";
import { type TestStore, testStore } from "../router/providers/support.ts";

let ts: TestStore;
let groq: FakeGroq;
let local: FakeGroq;
beforeEach(async () => {
  ts = await testStore();
  groq = await startFakeGroq({ apiKey: KEYS.GROQ_API_KEY, requestsPerMinute: 10_000 });
  local = await startFakeGroq({ prefix: "/v1", requestsPerMinute: 10_000 });
});
afterEach(async () => {
  await Promise.all([groq.close(), local.close()]);
  await ts.cleanup();
});

const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe("breaker verdicts", () => {
  it("an attempt cut short by the turn's overall deadline (not its own timeout) does not count against the provider's breaker", async () => {
    // A healthy local model: answers in 400 ms, well within its own 10 s timeout.
    const h = await harness({
      providers: { local: { kind: "llama-cpp", baseUrl: local.url, model: "tiny", timeoutMs: 10_000 } },
      chain: ["local"],
      retry: { maxAttempts: 1 },
      breaker: { failureThreshold: 1, windowMs: 60_000, cooldownMs: 30_000 },
    }, { store: ts });
    local.setDefault({ kind: "ok", delayMs: 400 });
    // A turn with little time left (a caller's short deadlineMs; or what remains after other providers failed).
    const err = await rejection(h.router.route({ ...ask(), deadlineMs: 150 }));
    expect(err).toBeInstanceOf(AllProvidersFailedError);
    // The provider never exceeded its own timeout: it said nothing about its health.
    expect(h.router.breakerStates()["local"]).toBe("closed");
    const next = await h.router.route(ask()); // a turn with the normal 20 s deadline
    expect(next.decision.provider).toBe("local");
  });
});

describe("a turn stopped by its caller", () => {
  it("is not charged for a call whose request never left (stopped between taking the slot and sending)", async () => {
    const ctrl = new AbortController();
    const bulkhead = createBulkhead(1);
    // The agent stops right after the turn got the provider's slot, while it reserves budget and quota (store
    // round trips): the request is never sent.
    const stoppingBulkhead = {
      get inFlight() {
        return bulkhead.inFlight;
      },
      get queued() {
        return bulkhead.queued;
      },
      async acquire(waitMs: number, signal: AbortSignal) {
        const release = await bulkhead.acquire(waitMs, signal);
        ctrl.abort(new Error("agent stopping"));
        return release;
      },
    };
    const paid: ChainEntry = {
      name: "paid",
      provider: createOpenAICompatibleProvider({ name: "paid", baseUrl: local.url }, { fetch, now: Date.now }),
      model: "paid-model",
      timeoutMs: 5_000,
      breaker: createBreaker({ failureThreshold: 1, windowMs: 60_000, cooldownMs: 60_000, now: Date.now }),
      bulkhead: stoppingBulkhead,
    };
    const h = await harness({
      providers: { paid: { kind: "openai-compatible", baseUrl: local.url, model: "paid-model" } },
      chain: ["paid"],
      budget: { prices: { "paid-model": { inputUsdPerMTok: 3, outputUsdPerMTok: 15 } }, dailyUsd: 10 },
    }, { store: ts, entries: new Map([["paid", paid]]) });
    const err = await rejection(h.router.route({ ...ask(), signal: ctrl.signal }));
    expect(String(err)).toContain("agent stopping");
    expect(local.requests).toHaveLength(0); // nothing reached the provider
    expect(bulkhead.inFlight).toBe(0);
    // Nothing can have been billed, so nothing is charged (the reservation, $0.003, was).
    expect(h.charged()).toBe(0);
    expect((await h.router.budget.status()).daySpentUsd).toBe(0);
  });
});
