import { startFakeAnthropic } from "../../fakes/anthropic.ts";
import { startFakeGroq } from "../../fakes/groq.ts";
import { createAnthropicProvider } from "../../../src/router/providers/anthropic.ts";
import { createGroqProvider } from "../../../src/router/providers/groq.ts";
import { createLlamaCppProvider } from "../../../src/router/providers/llama-cpp.ts";
import { createOpenAICompatibleProvider } from "../../../src/router/providers/openai-compatible.ts";
import { type ContractMode, runProviderContract } from "./contract.ts";
import type { AnthropicMode } from "../../fakes/anthropic.ts";
import type { GroqMode } from "../../fakes/groq.ts";

const deps = { fetch: globalThis.fetch, now: Date.now };
const GROQ_KEY = "gsk_test_contract_key_0123456789";
const ANTHROPIC_KEY = "sk-ant-test-contract-key-0123456789";

const groqModes: Record<ContractMode, GroqMode> = {
  ok: { kind: "ok", text: "Hello there, friend." },
  rate_limit_7: { kind: "rate_limit", retryAfterS: 7 },
  server_error: { kind: "server_error" },
  malformed: { kind: "malformed" },
  stream_forever: { kind: "stream_forever" },
  unauthorized: { kind: "unauthorized" },
};

const anthropicModes: Record<ContractMode, AnthropicMode> = {
  ok: { kind: "ok", text: "Hello there, friend." },
  rate_limit_7: { kind: "rate_limit", retryAfterS: 7 },
  server_error: { kind: "overloaded" },
  malformed: { kind: "malformed" },
  stream_forever: { kind: "stream_forever" },
  unauthorized: { kind: "unauthorized" },
};

runProviderContract("groq", async () => {
  const fake = await startFakeGroq({ apiKey: GROQ_KEY });
  return {
    provider: createGroqProvider({ name: "groq", apiKey: GROQ_KEY, baseUrl: fake.url }, deps),
    model: "llama-3.1-8b-instant",
    script: (m) => fake.script(groqModes[m]),
    requestCount: () => fake.requests.length,
    waitForClientClosed: (n) => fake.server.waitForClientClosed(n),
    keyHeader: {
      name: "authorization",
      value: `Bearer ${GROQ_KEY}`,
      sent: () => fake.requests[0]?.headers["authorization"],
    },
    secret: GROQ_KEY,
    close: () => fake.close(),
  };
});

runProviderContract("openai-compatible", async () => {
  const fake = await startFakeGroq({ apiKey: "sk-other-0123456789", prefix: "/v1" });
  return {
    provider: createOpenAICompatibleProvider({
      name: "other",
      baseUrl: fake.url,
      apiKey: "sk-other-0123456789",
    }, deps),
    model: "some-model",
    script: (m) => fake.script(groqModes[m]),
    requestCount: () => fake.requests.length,
    waitForClientClosed: (n) => fake.server.waitForClientClosed(n),
    keyHeader: {
      name: "authorization",
      value: "Bearer sk-other-0123456789",
      sent: () => fake.requests[0]?.headers["authorization"],
    },
    secret: "sk-other-0123456789",
    close: () => fake.close(),
  };
});

runProviderContract("llama-cpp (against the fake OpenAI-compatible server)", async () => {
  const fake = await startFakeGroq({ prefix: "/v1" });
  return {
    provider: createLlamaCppProvider({ name: "local", baseUrl: fake.url }, deps),
    model: "tiny",
    script: (m) => fake.script(groqModes[m]),
    requestCount: () => fake.requests.length,
    waitForClientClosed: (n) => fake.server.waitForClientClosed(n),
    close: () => fake.close(),
  };
});

runProviderContract("anthropic", async () => {
  const fake = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
  return {
    provider: createAnthropicProvider({ name: "claude", apiKey: ANTHROPIC_KEY, baseUrl: fake.url }, deps),
    model: "claude-haiku-4-5",
    script: (m) => fake.script(anthropicModes[m]),
    requestCount: () => fake.requests.length,
    waitForClientClosed: (n) => fake.server.waitForClientClosed(n),
    keyHeader: {
      name: "x-api-key",
      value: ANTHROPIC_KEY,
      sent: () => fake.requests[0]?.headers["x-api-key"],
    },
    secret: ANTHROPIC_KEY,
    close: () => fake.close(),
  };
});
