// How each provider's failures become ProviderError kinds: what is retried, what only falls back, what alerts.
import { afterEach, describe, expect, it } from "vitest";
import { ProviderError } from "../../../src/router/errors.ts";
import { createAnthropicProvider } from "../../../src/router/providers/anthropic.ts";
import { createGroqProvider } from "../../../src/router/providers/groq.ts";
import { createLlamaCppProvider } from "../../../src/router/providers/llama-cpp.ts";
import { createOpenAICompatibleProvider } from "../../../src/router/providers/openai-compatible.ts";
import { readSse } from "../../../src/router/providers/sse.ts";
import { freePort } from "../../support/ports.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../../fakes/anthropic.ts";
import { type FakeGroq, startFakeGroq } from "../../fakes/groq.ts";
import type { ChatProvider } from "../../../src/router/providers/types.ts";

const deps = { fetch: globalThis.fetch, now: Date.now };
const KEY = "sk-ant-secret-value-0123456789";
const fakes: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) await f.close();
});

async function anthropic(): Promise<{ fake: FakeAnthropic; p: ChatProvider }> {
  const fake = await startFakeAnthropic({ apiKey: KEY });
  fakes.push(fake);
  return { fake, p: createAnthropicProvider({ name: "claude", apiKey: KEY, baseUrl: fake.url }, deps) };
}

async function groqLike(prefix = "/openai/v1"): Promise<FakeGroq> {
  const fake = await startFakeGroq({ prefix });
  fakes.push(fake);
  return fake;
}

const req = { model: "m", maxTokens: 16, messages: [{ role: "user" as const, content: "hi" }] };
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ProviderError);

/** A llama.cpp provider whose stream answers `events` (an SSE body) at HTTP 200. */
const streamOf = (events: string) =>
  createLlamaCppProvider({ name: "llama", baseUrl: "http://127.0.0.1:9/v1" }, {
    now: Date.now,
    fetch: () =>
      Promise.resolve(new Response(events, { status: 200, headers: { "content-type": "text/event-stream" } })),
  });

describe("provider errors", () => {
  it("Anthropic: 529 overloaded is retriable and trips the breaker; 500 api_error too", async () => {
    const { fake, p } = await anthropic();
    fake.script({ kind: "overloaded" }, { kind: "server_error" });
    expect(await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }))).toMatchObject({
      kind: "overloaded",
      status: 529,
      retriable: true,
      tripsBreaker: true,
    });
    expect(await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }))).toMatchObject({
      kind: "server",
      status: 500,
      retriable: true,
    });
  });

  it("Anthropic: a spend limit (400 'usage limits' or 429 enforced_spend_limit_reached) is never retried and alerts", async () => {
    const { fake, p } = await anthropic();
    fake.script({ kind: "spend_limit" }, { kind: "error", status: 403, type: "permission_error" }, {
      kind: "error",
      status: 400,
      type: "invalid_request_error",
      message: "messages: field required",
    });
    const spend = await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }));
    expect(spend).toMatchObject({
      kind: "spend_limit",
      status: 400,
      retriable: false,
      tripsBreaker: false,
      needsOperator: true,
    });
    expect(await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }))).toMatchObject({
      kind: "auth",
      status: 403,
      retriable: false,
    });
    expect(await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }))).toMatchObject({
      kind: "bad_request",
      retriable: false,
      needsOperator: true,
    });
  });

  it("Anthropic: 429 whose detail code says enforced_spend_limit_reached is a spend limit, not a rate limit", async () => {
    const body = JSON.stringify({
      type: "error",
      error: {
        type: "rate_limit_error",
        message: "spend cap",
        details: { error_code: "enforced_spend_limit_reached" },
      },
    });
    const p = createAnthropicProvider({ name: "claude", apiKey: KEY }, {
      now: Date.now,
      fetch: () =>
        Promise.resolve(new Response(body, { status: 429, headers: { "content-type": "application/json" } })),
    });
    expect(await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }))).toMatchObject({
      kind: "spend_limit",
      retriable: false,
    });
  });

  it("OpenAI-compatible: 429 insufficient_quota is a spend limit; Groq 429 is a rate limit with its retry-after", async () => {
    const fake = await groqLike();
    fake.script(
      {
        kind: "error",
        status: 429,
        type: "insufficient_quota",
        code: "insufficient_quota",
        message: "You exceeded your current quota",
      },
      { kind: "rate_limit", retryAfterS: 3, type: "tokens" },
    );
    const p = createGroqProvider({ name: "groq", apiKey: "gsk_x_0123456789", baseUrl: fake.url }, deps);
    expect(await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }))).toMatchObject({
      kind: "spend_limit",
      retriable: false,
    });
    const limited = await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }));
    expect(limited).toMatchObject({ kind: "rate_limit", retryAfterMs: 3_000 });
    expect(limited?.rateLimit?.windows.find((w) => w.unit === "tokens")?.period).toBe("minute");
  });

  it("llama.cpp: 503 while the model loads is retriable (overloaded)", async () => {
    const fake = await groqLike("/v1");
    fake.script({ kind: "loading" });
    const p = createLlamaCppProvider({ name: "local", baseUrl: fake.url }, deps);
    expect(await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }))).toMatchObject({
      kind: "overloaded",
      status: 503,
      retriable: true,
    });
  });

  it("a refused connection is a retriable network error whose message names neither the URL nor the key", async () => {
    const port = await freePort();
    const key = "gsk_network_secret_0123456789";
    const p = createOpenAICompatibleProvider({
      name: "other",
      baseUrl: `http://127.0.0.1:${port}/v1?key=${key}`,
      apiKey: key,
    }, deps);
    const err = await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }));
    expect(err).toMatchObject({ kind: "network", retriable: true, status: 0 });
    expect(err?.message).not.toContain(key);
    expect(err?.message).not.toContain(String(port));
  });

  it("a key echoed in an error body is removed from the message", async () => {
    const key = "gsk_echoed_secret_0123456789";
    const body = JSON.stringify({
      error: { message: `Incorrect API key provided: ${key}. See https://x.test/?k=${key}` },
    });
    const p = createOpenAICompatibleProvider(
      { name: "other", baseUrl: "http://127.0.0.1:9/v1", apiKey: key },
      {
        now: Date.now,
        fetch: () => Promise.resolve(new Response(body, { status: 401 })),
      },
    );
    const err = await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }));
    expect(err).toMatchObject({ kind: "auth", status: 401 });
    expect(err?.message).not.toContain(key);
    expect(err?.message).toContain("Incorrect API key provided");
  });

  it("a stream error event from Anthropic becomes a ProviderError of its type", async () => {
    const events = [
      'event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":3,"output_tokens":1}}}\n\n',
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
    ].join("");
    const p = createAnthropicProvider({ name: "claude", apiKey: KEY }, {
      now: Date.now,
      fetch: () =>
        Promise.resolve(
          new Response(events, { status: 200, headers: { "content-type": "text/event-stream" } }),
        ),
    });
    const err = await failure((async () => {
      for await (const _ of p.stream!(req, { signal: AbortSignal.timeout(5_000) })) { /* drain */ }
    })());
    expect(err).toMatchObject({ kind: "overloaded", retriable: true });
  });

  it("llama.cpp: an `error:` line mid-stream (llama-server before 2025-09) is a failure, not an empty answer", async () => {
    // llama.cpp PR #16109 moved this to `data: {"error": …}`; older builds send it at HTTP 200, then `[DONE]`.
    const events = 'error: {"code":400,"message":"the request exceeds the available context size","type":"invalid_request_error"}\n\n' +
      "data: [DONE]\n\n";
    const p = streamOf(events);
    const err = await failure((async () => {
      for await (const _ of p.stream!(req, { signal: AbortSignal.timeout(5_000) })) { /* drain */ }
    })());
    expect(err).toBeInstanceOf(ProviderError);
    // Its code says what it is: a prompt over the context is a bad request, not retried and no breaker.
    expect(err).toMatchObject({ kind: "bad_request", retriable: false, tripsBreaker: false });
  });

  it("an error chunk mid-stream is classified by its code; one without a code is a server fault", async () => {
    const drain = (p: ChatProvider) =>
      failure((async () => {
        for await (const _ of p.stream!(req, { signal: AbortSignal.timeout(5_000) })) { /* drain */ }
      })());
    const coded = 'data: {"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}\n\n';
    expect(await drain(streamOf(coded))).toMatchObject({ kind: "overloaded", retriable: true });
    const bare = 'data: {"error":{"message":"boom"}}\n\n';
    expect(await drain(streamOf(bare))).toMatchObject({ kind: "server", retriable: true });
  });

  it("an event with empty data (a bare `data:`, a proxy's keep-alive) is skipped, not a malformed chunk", async () => {
    // The WHATWG SSE spec dispatches no event whose data is empty, at a blank line or at the end of the body.
    const seen: string[] = [];
    for await (const ev of readSse(new Response("data:\n\ndata: x\n\ndata:\n").body!)) seen.push(ev.data);
    expect(seen).toEqual(["x"]);
    const events = [
      'data: {"choices":[{"delta":{"content":"Hello"},"finish_reason":null}]}\n\n',
      "data:\n\n",
      'data: {"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n',
      "data: [DONE]\n\n",
    ].join("");
    const chunks: string[] = [];
    for await (const c of streamOf(events).stream!(req, { signal: AbortSignal.timeout(5_000) })) {
      chunks.push(c.type === "delta" ? c.text : c.finishReason);
    }
    expect(chunks).toEqual(["Hello", "stop"]);
  });

  it("Anthropic: a 529 whose retry-after came twice (\"7, 7\") waits 7 s, not \"retry now\"", async () => {
    // A gateway in front adding its own retry-after to Anthropic's: `Headers.get` joins them.
    const headers = new Headers({ "content-type": "application/json" });
    headers.append("retry-after", "7");
    headers.append("retry-after", "7");
    const body = JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
    const p = createAnthropicProvider({ name: "claude", apiKey: KEY }, {
      now: Date.now,
      fetch: () => Promise.resolve(new Response(body, { status: 529, headers })),
    });
    expect(await failure(p.chat(req, { signal: AbortSignal.timeout(5_000) }))).toMatchObject({
      kind: "overloaded",
      retryAfterMs: 7_000,
    });
  });
});
