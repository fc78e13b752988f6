// The fakes must speak the providers' real wire formats: the official SDKs, as real clients, parse them.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { type FakeAnthropic, startFakeAnthropic } from "../../fakes/anthropic.ts";
import { type FakeGroq, startFakeGroq } from "../../fakes/groq.ts";

const GROQ_KEY = "gsk_wire_test_0123456789";
const ANTHROPIC_KEY = "sk-ant-wire-test-0123456789";
let groq: FakeGroq | undefined;
let claude: FakeAnthropic | undefined;
afterEach(async () => {
  await groq?.close();
  await claude?.close();
  groq = claude = undefined;
});

describe("fake Groq, read by the official openai SDK", () => {
  it("answers a completion with usage and x-ratelimit headers", async () => {
    groq = await startFakeGroq({ apiKey: GROQ_KEY });
    const client = new OpenAI({ apiKey: GROQ_KEY, baseURL: groq.url, maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({
      model: "llama-3.1-8b-instant",
      messages: [{ role: "user", content: "hi" }],
    }).withResponse();
    expect(data.choices[0]?.message.content).toBe("Hello from the fake Groq.");
    expect(data.usage?.completion_tokens).toBeGreaterThan(0);
    expect(response.headers.get("x-ratelimit-limit-requests")).toBe("14400");
    expect(response.headers.get("x-ratelimit-reset-tokens")).toMatch(/^\d+(\.\d+)?(ms|s)$|m/);
    expect(groq.requests[0]?.headers["authorization"]).toBe(`Bearer ${GROQ_KEY}`);
  });

  it("streams chunks the SDK assembles, ending with [DONE]", async () => {
    groq = await startFakeGroq({ apiKey: GROQ_KEY });
    const client = new OpenAI({ apiKey: GROQ_KEY, baseURL: groq.url, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let text = "";
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe("Hello from the fake Groq.");
    expect(finish).toBe("stop");
  });

  it("enforces its own requests-per-minute limit with 429, retry-after and Groq's error body", async () => {
    groq = await startFakeGroq({ apiKey: GROQ_KEY, requestsPerMinute: 2 });
    const client = new OpenAI({ apiKey: GROQ_KEY, baseURL: groq.url, maxRetries: 0 });
    const ask = () =>
      client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });
    await ask();
    await ask();
    const err = await ask().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const e = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(Number(e.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(e.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" });
  });

  it("rejects a wrong key with 401 invalid_api_key", async () => {
    groq = await startFakeGroq({ apiKey: GROQ_KEY });
    const client = new OpenAI({ apiKey: "gsk_wrong_key", baseURL: groq.url, maxRetries: 0 });
    const err = await client.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
    })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
  });
});

describe("fake Anthropic, read by the official @anthropic-ai/sdk", () => {
  it("answers a message with content blocks, usage and anthropic-ratelimit headers", async () => {
    claude = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
    const client = new Anthropic({
      apiKey: ANTHROPIC_KEY,
      baseURL: claude.url.replace(/\/v1$/, ""),
      maxRetries: 0,
    });
    const { data, response } = await client.messages.create({
      model: "claude-haiku-4-5",
      max_tokens: 64,
      system: "Be brief.",
      messages: [{ role: "user", content: "hi" }],
    }).withResponse();
    expect(data.content[0]).toMatchObject({ type: "text", text: "Hello from the fake Claude." });
    expect(data.usage.output_tokens).toBeGreaterThan(0);
    expect(data.stop_reason).toBe("end_turn");
    expect(Date.parse(response.headers.get("anthropic-ratelimit-requests-reset") ?? "")).not.toBeNaN();
    expect(claude.requests[0]?.headers["anthropic-version"]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(claude.requests[0]?.json).toMatchObject({ system: "Be brief." });
  });

  it("streams events the SDK assembles into the final message", async () => {
    claude = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
    const client = new Anthropic({
      apiKey: ANTHROPIC_KEY,
      baseURL: claude.url.replace(/\/v1$/, ""),
      maxRetries: 0,
    });
    const stream = client.messages.stream({
      model: "claude-haiku-4-5",
      max_tokens: 64,
      messages: [{ role: "user", content: "hi" }],
    });
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: "text", text: "Hello from the fake Claude." });
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });

  it("answers 529 overloaded_error and 429 rate_limit_error with retry-after as typed errors", async () => {
    claude = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
    const client = new Anthropic({
      apiKey: ANTHROPIC_KEY,
      baseURL: claude.url.replace(/\/v1$/, ""),
      maxRetries: 0,
    });
    const ask = () =>
      client.messages.create({ model: "m", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })
        .then(() => undefined, (e: unknown) => e);
    claude.script({ kind: "overloaded" }, { kind: "rate_limit", retryAfterS: 7 });
    const overloaded = await ask();
    expect(overloaded).toBeInstanceOf(Anthropic.APIError);
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: "error",
      error: { type: "overloaded_error" },
    });
    const limited = await ask();
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect((limited as InstanceType<typeof Anthropic.RateLimitError>).headers.get("retry-after")).toBe("7");
  });
});
