// The provider contract's ok / stream / abort cases against the REAL llama.cpp llama-server on the tiny
// generated model (install: `bash scripts/llama/install.sh`). Skipped locally when it is not installed; with
// CI=true a missing install fails (as test/llama does).
import process from "node:process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveRouterSettings, routerSchema } from "../../../src/router/config.ts";
import { AllProvidersFailedError } from "../../../src/router/errors.ts";
import { createLlamaCppProvider } from "../../../src/router/providers/llama-cpp.ts";
import { createChainEntries } from "../../../src/router/providers/mod.ts";
import {
  llamaAvailable,
  llamaMissingMessage,
  type LlamaServer,
  startLlamaServer,
} from "../../support/llama-server.ts";
import { runProviderContract } from "./contract.ts";
import { ask, harness } from "./router-harness.ts";
import { testStore } from "./support.ts";

const run = llamaAvailable() || process.env.CI === "true";

/**
 * The tiny random model may emit its end-of-sequence token at any point; the test's fetch asks the server to
 * ignore it (a llama.cpp extension) and keeps generations within the model's 2,048-token context, so "long" means
 * seconds of generation and "short" still yields text.
 */
const testFetch: typeof fetch = (input, init) => {
  const body = JSON.parse(String(init?.body ?? "{}")) as Record<string, unknown>;
  body["ignore_eos"] = true;
  body["max_tokens"] = Math.min(Number(body["max_tokens"] ?? 16), 1_800);
  return fetch(input, { ...init, body: JSON.stringify(body) });
};

async function idle(server: LlamaServer, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const slots = await (await fetch(`${server.url}/slots`)).json() as { is_processing: boolean }[];
    if (slots.every((s) => !s.is_processing)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`llama-server still generating after ${timeoutMs} ms:\n${server.logTail()}`);
}

if (!run) it.skip(`real llama-server contract skipped: ${llamaMissingMessage()}`, () => {});

describe.runIf(run)("llama-cpp provider against the real llama-server", () => {
  let server: LlamaServer;
  beforeAll(async () => {
    server = await startLlamaServer();
  });
  afterAll(() => server?.stop());

  const notScriptable = "a real server cannot be told to fail this way; covered against the fake";
  runProviderContract("llama-cpp (real llama-server)", () =>
    Promise.resolve({
      provider: createLlamaCppProvider({ name: "local", baseUrl: `${server.url}/v1` }, {
        fetch: testFetch,
        now: Date.now,
      }),
      model: "tiny",
      script: () => {},
      requestCount: () => undefined,
      // The server stops generating once it notices the closed connection (streamed: at its next write;
      // non-streamed: at its periodic connection check).
      waitForClientClosed: () => idle(server),
      close: () => idle(server),
    }), {
    timeoutMs: 500,
    skip: {
      rate_limit: notScriptable,
      server_error: notScriptable,
      malformed: notScriptable,
      auth: notScriptable,
    },
  });

  it("answers after an aborted generation (the slot was freed)", async () => {
    const p = createLlamaCppProvider({ name: "local", baseUrl: `${server.url}/v1` }, {
      fetch: testFetch,
      now: Date.now,
    });
    const res = await p.chat({ model: "tiny", maxTokens: 4, messages: [{ role: "user", content: "hi" }] }, {
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.usage.outputTokens).toBe(4);
    expect(res.finishReason).toBe("length");
  });

  // llama-server's slots share one KV cache (its context, 2,048 tokens for the tiny model): four ~830-token turns
  // at once overflow it, and it answers 500 "Context size has been exceeded" (seen in the system benchmark when
  // Groq and Claude were down). The router's default for a llama-cpp provider, one call at a time, queues them,
  // and its queue holds the orchestrator's 16 model turns.
  it("answers 16 turns that arrive together, one at a time, with the router's default bulkhead", async () => {
    const ts = await testStore();
    try {
      const config = {
        providers: { local: { kind: "llama-cpp", baseUrl: `${server.url}/v1`, model: "tiny", timeoutMs: 60_000 } },
        chain: ["local"],
        deadlineMs: 60_000,
        retry: { maxAttempts: 1 },
      };
      const settings = resolveRouterSettings(routerSchema.parse(config));
      const entries = createChainEntries(settings.providers, settings.breaker, {
        fetch: testFetch,
        now: Date.now,
        env: {},
      });
      const h = await harness(config, { store: ts, entries });
      const prompt = "You are the support assistant of Acme. Answer briefly and politely. ".repeat(6);
      const turn = () => {
        const input = ask(prompt);
        return h.router.route({ ...input, request: { ...input.request, maxTokens: 300 } });
      };
      const results = await Promise.all(Array.from({ length: 16 }, turn));
      expect(results.map((r) => r.decision.provider)).toEqual(Array(16).fill("local"));
      expect(results.map((r) => r.response.usage.outputTokens)).toEqual(Array(16).fill(300));
    } finally {
      await ts.cleanup();
    }
  });

  // The router gives up on a call at its timeout or deadline at once, but llama-server notices a dropped
  // non-streamed request only about a second later and generates meanwhile. With its default slots the next call
  // ran beside that orphan, their prompts overflowed the shared context (500 "Context size has been exceeded": a
  // server failure, counted by the breaker) and the turn went to the next, paid provider. The sidecar's
  // `--parallel 1`, which startLlamaServer passes too, makes the next call wait for the orphan instead.
  it("answers the call after one it gave up on, while the server still generates the abandoned one", async () => {
    const ts = await testStore();
    try {
      const config = {
        providers: { local: { kind: "llama-cpp", baseUrl: `${server.url}/v1`, model: "tiny", timeoutMs: 10_000 } },
        chain: ["local"],
        deadlineMs: 20_000,
        retry: { maxAttempts: 1 },
      };
      const settings = resolveRouterSettings(routerSchema.parse(config));
      const entries = createChainEntries(settings.providers, settings.breaker, {
        fetch: testFetch,
        now: Date.now,
        env: {},
      });
      const h = await harness(config, { store: ts, entries });
      // The tiny model reads about a token a character: ~1,150 and ~1,000 prompt tokens, each within its 2,048-token
      // context alone, not together.
      const say = (text: string, maxTokens: number) => ({
        messages: [{ role: "user" as const, content: text }],
        maxTokens,
      });
      const abandoned = h.router.route({
        request: say("Please describe every plan you offer in detail. ".repeat(23), 900), // seconds of generation
        deadlineMs: 400,
      });
      await expect(abandoned).rejects.toBeInstanceOf(AllProvidersFailedError);
      const next = await h.router.route({
        request: say("What are your opening hours on public holidays? ".repeat(21), 8),
      });
      expect(next.decision).toMatchObject({ provider: "local", reason: "first choice" });
      expect(next.response.usage.outputTokens).toBe(8);
    } finally {
      await idle(server);
      await ts.cleanup();
    }
  });
});

// Gemma 3's chat template (as its GGUF files carry it; Mistral's is alike) takes one system message first, then
// strictly alternating user and assistant turns, and llama-server answers 400 to anything else. A leads role adds a
// second system message (what is known about the visitor) and a re-ask one at the end: every such turn was refused
// and went to the next, paid provider.
describe.runIf(run)("llama-cpp provider against a real llama-server with Gemma 3's chat template", () => {
  let server: LlamaServer;
  beforeAll(async () => {
    const template = fileURLToPath(new URL("../../fixtures/llama/gemma3-chat-template.jinja", import.meta.url));
    server = await startLlamaServer({ extraArgs: ["--chat-template-file", template] });
  });
  afterAll(() => server?.stop());

  it("answers a request with several system messages (they are merged into one leading one)", async () => {
    const p = createLlamaCppProvider({ name: "local", baseUrl: `${server.url}/v1` }, {
      fetch: testFetch,
      now: Date.now,
    });
    const res = await p.chat({
      model: "tiny",
      maxTokens: 4,
      messages: [
        { role: "system", content: "You are Acme's assistant." },
        { role: "system", content: "Already known about the visitor: name Ann Lee." },
        { role: "user", content: "Hello" },
        { role: "assistant", content: "Hi Ann, how can I help?" },
        { role: "user", content: "What plans do you have?" },
        { role: "system", content: "Ask for the visitor's e-mail address." },
      ],
    }, { signal: AbortSignal.timeout(10_000) });
    expect(res.usage.outputTokens).toBe(4);
  });
});
