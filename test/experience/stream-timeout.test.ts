// A provider's `timeoutMs` on a streamed reply bounds the wait for its first text and each gap between chunks, not
// the whole answer: a model that generates slowly but steadily (llama.cpp on an ARM VM, Claude on a long answer)
// is read to the end within the turn's deadline; one that stalls is still given up on after `timeoutMs`. A call
// that does not stream cannot show progress: its `timeoutMs` bounds the whole answer. Fake Groq (as llama-server)
// and fake Anthropic over real HTTP (SSE).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StreamInterruptedError } from "../../src/router/chain.ts";
import { resolveRouterSettings, routerSchema } from "../../src/router/config.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { ask, harness } from "../router/providers/router-harness.ts";
import { type TestStore, testStore } from "../router/providers/support.ts";

let ts: TestStore;
let local: FakeGroq;
let spare: FakeGroq;
let claude: FakeAnthropic;
beforeEach(async () => {
  ts = await testStore();
  local = await startFakeGroq({ prefix: "/v1", requestsPerMinute: 10_000 });
  spare = await startFakeGroq({ prefix: "/v1", requestsPerMinute: 10_000 });
  claude = await startFakeAnthropic();
});
afterEach(async () => {
  await Promise.all([local.close(), spare.close(), claude.close()]);
  await ts.cleanup();
});

/** Twelve words: at 150 ms a word about 1.8 s, far over a 500 ms `timeoutMs`, well within a 10 s deadline. */
const ANSWER = "We open at nine every weekday and close at six, Saturdays until one.";
const SLOW = { kind: "ok" as const, text: ANSWER, wordDelayMs: 150 };

const config = (deadlineMs = 10_000) => ({
  deadlineMs,
  providers: {
    local: { kind: "llama-cpp", baseUrl: local.url, model: "tiny", timeoutMs: 500 },
    claude: {
      kind: "anthropic",
      baseUrl: claude.url,
      model: "claude-haiku-4-5",
      apiKeyEnv: "ANTHROPIC_API_KEY",
      timeoutMs: 500,
    },
    spare: { kind: "openai-compatible", baseUrl: spare.url, model: "spare", timeoutMs: 2_000 },
  },
  chain: ["local", "claude", "spare"],
  retry: { maxAttempts: 1 },
  breaker: { failureThreshold: 1 },
  budget: { prices: { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } } },
});

describe("timeoutMs of a streamed reply", () => {
  it("a local model streaming slowly but steadily is read to the end, not cut at timeoutMs", async () => {
    const h = await harness(config(), { store: ts });
    local.script(SLOW);
    const seen: string[] = [];
    const { response, decision } = await h.router.routeStream(ask(), (t) => seen.push(t));
    expect(response.text).toBe(ANSWER);
    expect(decision).toMatchObject({ provider: "local", reason: "first choice" });
    expect(decision.attempts.map((a) => a.outcome)).toEqual(["ok"]);
    expect(seen.at(-1)).toBe(ANSWER);
    expect(claude.requests).toHaveLength(0);
  });

  it("so is Claude's", async () => {
    const h = await harness({ ...config(), chain: ["claude", "spare"] }, { store: ts });
    claude.script(SLOW);
    const { response, decision } = await h.router.routeStream(ask(), () => {});
    expect(response.text).toBe(ANSWER);
    expect(decision).toMatchObject({ provider: "claude", reason: "first choice" });
    expect(spare.requests).toHaveLength(0);
  });

  it("a provider whose first text comes later than timeoutMs is given up on: the next one answers", async () => {
    const h = await harness(config(), { store: ts });
    local.script({ kind: "ok", text: ANSWER, wordDelayMs: 1_500 });
    claude.script({ kind: "ok", text: "From Claude." });
    const { response, decision } = await h.router.routeStream(ask(), () => {});
    expect(response.text).toBe("From Claude.");
    expect(decision.reason).toBe("fallback after local timeout");
    expect(h.router.breakerStates()["local"]).toBe("open"); // its own timeout: counts against it
  });

  it("a stream that stalls after its first text is given up on after timeoutMs, not at the turn's deadline", async () => {
    const h = await harness({ ...config(60_000), chain: ["local", "claude"] }, { store: ts });
    local.script({ kind: "stall", text: "We open at " });
    const err = await h.router.routeStream(ask(), () => {}).catch((e) => e);
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect((err as StreamInterruptedError).failures[0]).toMatchObject({ provider: "local", reason: "timeout" });
    // The provider's own timeout, not the turn's deadline: it counts against its breaker.
    expect(h.router.breakerStates()["local"]).toBe("open");
    await local.server.waitForClientClosed(1, 5_000);
  });

  it("the turn's deadline still bounds the whole streamed answer", async () => {
    const h = await harness({ ...config(1_000), chain: ["local"] }, { store: ts });
    local.script({ kind: "ok", text: ANSWER, wordDelayMs: 300 });
    const err = await h.router.routeStream(ask(), () => {}).catch((e) => e);
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect((err as StreamInterruptedError).failures[0]).toMatchObject({ provider: "local", reason: "timeout" });
    expect(h.router.breakerStates()["local"]).toBe("closed"); // cut by the turn: not the provider's fault
    await local.server.waitForClientClosed(1, 5_000);
  });

  it("a call that does not stream cannot show progress: timeoutMs bounds its whole answer", async () => {
    const h = await harness(config(), { store: ts });
    local.script({ kind: "ok", text: ANSWER, delayMs: 1_500 });
    claude.script({ kind: "ok", text: "From Claude." });
    const { response, decision } = await h.router.route(ask());
    expect(response.text).toBe("From Claude.");
    expect(decision.reason).toBe("fallback after local timeout");
    expect((local.requests[0]?.json as { stream?: boolean }).stream).toBe(false);
  });

  it("a local model's default timeoutMs fits an answer a small VM takes seconds to write; other kinds keep 3 s", async () => {
    const h = await harness({
      deadlineMs: 20_000,
      providers: { local: { kind: "llama-cpp", baseUrl: local.url, model: "tiny" } },
      chain: ["local"],
      retry: { maxAttempts: 1 },
    }, { store: ts });
    local.script({ kind: "ok", text: ANSWER, delayMs: 5_000 });
    const { response, decision } = await h.router.route(ask());
    expect(response.text).toBe(ANSWER);
    expect(decision.reason).toBe("first choice");
    const resolved = resolveRouterSettings(routerSchema.parse({
      providers: { local: { kind: "llama-cpp", baseUrl: local.url, model: "tiny" }, spare: { kind: "openai-compatible", baseUrl: spare.url, model: "spare" } },
      chain: ["local", "spare"],
    }));
    expect([resolved.providers["local"]?.timeoutMs, resolved.providers["spare"]?.timeoutMs]).toEqual([15_000, 3_000]);
  }, 30_000);
});
