// The router's streaming walk (`routeStream`): the same guards as `route` — breaker, quota, budget, deadline,
// the caller's abort — and fallback only before the first chunk. Fake Groq and fake llama-server over real HTTP
// (SSE), plus scripted providers for the mid-stream failure.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StreamInterruptedError } from "../../src/router/chain.ts";
import { AllProvidersFailedError, ProviderError } from "../../src/router/errors.ts";
import type { ChatChunk, ChatProvider } from "../../src/router/providers/types.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { ask, harness, KEYS, stubEntry } from "../router/providers/router-harness.ts";
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

const providers = (groqLimits?: Record<string, number>) => ({
  groq: {
    kind: "groq",
    baseUrl: groq.url,
    model: "llama-3.1-8b-instant",
    apiKeyEnv: "GROQ_API_KEY",
    timeoutMs: 2_000,
    ...(groqLimits ? { limits: groqLimits } : {}),
  },
  local: { kind: "llama-cpp", baseUrl: local.url, model: "tiny", timeoutMs: 2_000 },
});

const streamed = (
  n: number,
) => (groq.requests.slice(-n).every((r) => (r.json as { stream?: boolean }).stream === true));

describe("routeStream", () => {
  it("reads the provider's stream chunk by chunk; the response is the whole text with its usage", async () => {
    const h = await harness({ providers: providers(), chain: ["groq", "local"] }, { store: ts });
    groq.script({ kind: "ok", text: "One two three. Four five." });
    const seen: string[] = [];
    const { response, decision } = await h.router.routeStream(ask(), (t) => seen.push(t));
    expect(streamed(1)).toBe(true);
    expect(response.text).toBe("One two three. Four five.");
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.at(-1)).toBe(response.text);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.startsWith(seen[i - 1]!)).toBe(true);
    expect(decision).toMatchObject({ provider: "groq", reason: "first choice" });
    expect(response.usage.outputTokens).toBeGreaterThan(0); // Groq's x_groq.usage in the last chunk
  });

  it("falls back before the first chunk: a 5xx from Groq, the local model streams the reply", async () => {
    const h = await harness({ providers: providers(), chain: ["groq", "local"], retry: { maxAttempts: 1 } }, {
      store: ts,
    });
    groq.script({ kind: "server_error" });
    local.script({ kind: "ok", text: "From the local model." });
    const seen: string[] = [];
    const { response, decision } = await h.router.routeStream(ask(), (t) => seen.push(t));
    expect(response.text).toBe("From the local model.");
    expect(seen.every((t) => "From the local model.".startsWith(t))).toBe(true);
    expect(decision.reason).toBe("fallback after groq server");
  });

  it("after the first chunk a failure ends the walk (StreamInterruptedError): no other provider continues it", async () => {
    const calls: string[] = [];
    const breaking: ChatProvider = {
      name: "breaking",
      kind: "groq",
      chat: () => Promise.reject(new Error("not used")),
      async *stream(): AsyncGenerator<ChatChunk> {
        yield { type: "delta", text: "The first words " };
        throw new ProviderError({ provider: "breaking", kind: "network", detail: "connection reset" });
      },
    };
    const spare: ChatProvider = {
      name: "spare",
      kind: "llama-cpp",
      chat: (req) => {
        calls.push(req.model);
        return Promise.resolve({
          text: "x",
          usage: { inputTokens: 1, outputTokens: 1 },
          model: "m",
          provider: "spare",
          finishReason: "stop",
        });
      },
    };
    const entries = new Map([["breaking", stubEntry(breaking)], ["spare", stubEntry(spare)]]);
    const cfg = {
      providers: {
        breaking: { kind: "groq", baseUrl: "http://127.0.0.1:9/v1", model: "m", apiKeyEnv: "GROQ_API_KEY" },
        spare: { kind: "llama-cpp", baseUrl: "http://127.0.0.1:9/v1", model: "m" },
      },
      chain: ["breaking", "spare"],
    };
    const h = await harness(cfg, { store: ts, entries });
    const seen: string[] = [];
    const err = await h.router.routeStream(ask(), (t) => seen.push(t)).catch((e) => e);
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect(err).toBeInstanceOf(AllProvidersFailedError); // the turn handler's fallback-and-retry path
    expect(seen).toEqual(["The first words "]);
    expect(calls).toEqual([]);
    // The failure counts against the provider like any other; its bulkhead is free again.
    expect(h.router.breakerStates()["breaking"]).toBe("open");
    expect(entries.get("breaking")!.bulkhead.inFlight).toBe(0);
    // With its breaker open the next streamed turn skips it; a provider without stream() answers at once.
    const next = await h.router.routeStream(ask(), () => {});
    expect(next.decision.attempts[0]).toMatchObject({
      provider: "breaking",
      outcome: "skipped",
      reason: "breaker_open",
    });
    expect(next.decision.provider).toBe("spare");
    expect(calls).toEqual(["m"]);
  });

  it("skips a provider whose quota is spent, as route() does; providersFor() lists the chain", async () => {
    const h = await harness({ providers: providers({ requestsPerMinute: 1 }), chain: ["groq", "local"] }, {
      store: ts,
    });
    await h.router.routeStream(ask(), () => {});
    const second = await h.router.routeStream(ask(), () => {});
    expect(second.decision.provider).toBe("local");
    expect(second.decision.attempts[0]).toMatchObject({
      provider: "groq",
      outcome: "skipped",
      reason: "quota",
    });
    expect(h.router.providersFor("simple").map((p) => [p.name, p.kind, p.breaker])).toEqual([
      ["groq", "groq", "closed"],
      ["local", "llama-cpp", "closed"],
    ]);
  });

  it("a provider that streams forever is aborted at the turn's deadline (socket closed)", async () => {
    // Its chunks keep coming sooner than its timeoutMs, which bounds each wait, not the whole answer.
    const h = await harness({
      deadlineMs: 1_000,
      providers: { ...providers(), groq: { ...providers().groq, timeoutMs: 300 } },
      chain: ["groq", "local"],
      retry: { maxAttempts: 1 },
    }, { store: ts });
    groq.script({ kind: "stream_forever" });
    const err = await h.router.routeStream(ask(), () => {}).catch((e) => e);
    expect(err).toBeInstanceOf(StreamInterruptedError);
    expect((err as StreamInterruptedError).failures[0]).toMatchObject({
      provider: "groq",
      reason: "timeout",
    });
    await groq.server.waitForClientClosed(1, 5_000);
  });

  it("the caller's abort mid-stream ends the walk with the caller's reason", async () => {
    const h = await harness({ providers: providers(), chain: ["groq", "local"] }, { store: ts });
    groq.script({ kind: "stream_forever" });
    const ctl = new AbortController();
    const reason = new Error("agent stopping");
    const err = await h.router.routeStream({ ...ask(), signal: ctl.signal }, () => ctl.abort(reason)).catch((
      e,
    ) => e);
    expect(err).toBe(reason);
    expect(local.requests).toHaveLength(0);
  });
});
