// Review: a 503/529 answered with Retry-After is honoured only inside the turn that got it; the next turn calls the
// provider again at once (only a 429's Retry-After blocks the model across turns, chain.ts settle blockForMs).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ChainEntry } from "../../src/router/chain.ts";
import { createBreaker } from "../../src/router/breaker.ts";
import { createBulkhead } from "../../src/router/providers/bulkhead.ts";
import { createOpenAICompatibleProvider } from "../../src/router/providers/openai-compatible.ts";
import { ask, harness } from "../router/providers/router-harness.ts";
import { fakeClock, type TestStore, testStore } from "../router/providers/support.ts";

let ts: TestStore;
beforeEach(async () => (ts = await testStore()));
afterEach(async () => await ts.cleanup());

const okBody = () =>
  new Response(JSON.stringify({
    model: "m",
    choices: [{ message: { content: "Open 9 to 5." }, finish_reason: "stop" }],
    usage: { prompt_tokens: 10, completion_tokens: 5 },
  }), { status: 200, headers: { "content-type": "application/json" } });

describe("Retry-After on a 503 (overloaded)", () => {
  it("keeps the provider out for later turns too, as a 429's does", async () => {
    const clock = fakeClock();
    const calls: number[] = [];
    // First answer: 503 "come back in 30 s"; then OK.
    const busyFetch: typeof fetch = () => {
      calls.push(clock.now());
      return Promise.resolve(
        calls.length === 1
          ? new Response(JSON.stringify({ error: { message: "overloaded" } }), {
            status: 503,
            headers: { "retry-after": "30", "content-type": "application/json" },
          })
          : okBody(),
      );
    };
    const entry = (name: string, f: typeof fetch): ChainEntry => ({
      name,
      provider: createOpenAICompatibleProvider({ name, baseUrl: "http://127.0.0.1:9/v1" }, { fetch: f, now: clock.now }),
      model: "m",
      timeoutMs: 1_000,
      breaker: createBreaker({ failureThreshold: 5, windowMs: 60_000, cooldownMs: 30_000, now: clock.now }),
      bulkhead: createBulkhead(4),
    });
    const entries = new Map([["busy", entry("busy", busyFetch)], ["spare", entry("spare", () => Promise.resolve(okBody()))]]);
    const placeholder = { kind: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1", model: "m" };
    const h = await harness({ providers: { busy: placeholder, spare: placeholder }, chain: ["busy", "spare"] }, {
      store: ts,
      now: clock.now,
      sleep: clock.sleep,
      entries,
    });
    const first = await h.router.route(ask());
    expect(first.decision.provider).toBe("spare");
    clock.advance(5_000); // 25 s before the provider asked to be called again
    await h.router.route(ask());
    expect(calls).toHaveLength(1); // FAILS: 2, the busy provider was called again 5 s into its 30 s Retry-After
  });
});
