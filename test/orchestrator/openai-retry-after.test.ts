// The OpenAI endpoint's 503 tells the SDK when to come back: when the router's first provider is back (a provider's
// own 429 Retry-After keeps it out that long), and not to retry when waiting cannot help soon (the day's budget is
// spent until UTC midnight). The SDK waits as long as Retry-After says; told too little, all its retries are refused.
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { API_KEY, type Harness, startHarness } from "./harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const post = (port: number, content: string) =>
  fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "fast", messages: [{ role: "user", content }] }),
  });

describe("OpenAI endpoint: Retry-After of its 503", () => {
  it("says when the provider held off by its 429 is back, for the request that got the 429 and those after it", async () => {
    h = await startHarness();
    // Groq: 429, "Please try again in 45s", retry-after: 45. The router leaves it out of every call for 45 s.
    h.groq.script({ kind: "rate_limit", retryAfterS: 45 });
    const first = await post(h.port, "What is the capital of Peru?");
    expect(first.status).toBe(503);
    expect(Number(first.headers.get("retry-after"))).toBeGreaterThanOrEqual(44);
    expect(Number(first.headers.get("retry-after"))).toBeLessThanOrEqual(45);
    expect(first.headers.get("x-should-retry")).toBeNull();
    // The request after it is not sent to Groq (the router knows it is held off), and is told the same time.
    const calls = h.modelCalls();
    const second = await post(h.port, "What is the capital of Chile?");
    expect(second.status).toBe(503);
    expect(h.modelCalls()).toBe(calls);
    expect(Number(second.headers.get("retry-after"))).toBeGreaterThanOrEqual(40);
    expect(Number(second.headers.get("retry-after"))).toBeLessThanOrEqual(45);
  });

  it("the SDK with one retry gets the answer once a 429's retry-after of more than 10 s has passed", async () => {
    h = await startHarness({
      router: (url) => ({
        providers: { groq: { kind: "groq", baseUrl: url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 1000 } },
        chain: ["groq"],
        retry: { maxAttempts: 1 },
        deadlineMs: 2000,
      }),
    });
    h.groq.script({ kind: "rate_limit", retryAfterS: 12 });
    h.groq.setDefault({ kind: "ok", text: "Lima." });
    const sdk = new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${h.port}/v1`, maxRetries: 1, timeout: 30_000 });
    const got = await sdk.chat.completions.create({ model: "fast", messages: [{ role: "user", content: "Capital of Peru?" }] })
      .then((r) => r.choices[0]!.message.content, (err: { status?: number }) => `error ${err.status}`);
    expect(got).toBe("Lima.");
    expect(h.modelCalls()).toBe(2);
  }, 30_000);

  it("a 503 because the day's budget is spent tells the SDK not to retry", async () => {
    h = await startHarness({
      router: (url) => ({
        providers: { groq: { kind: "groq", baseUrl: url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 2000 } },
        chain: ["groq"],
        retry: { maxAttempts: 1 },
        budget: { prices: { "llama-3.1-8b-instant": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } }, dailyUsd: 1, lowFraction: 0 },
      }),
    });
    // The chat turns spent today's budget.
    const day = new Date().toISOString().slice(0, 10);
    await h.store.client.execute({
      sql: `INSERT INTO router_budget_days (day, month, spent_micros, reserved_micros) VALUES (?, ?, 1000000, 0)
            ON CONFLICT (day) DO UPDATE SET spent_micros = 1000000`,
      args: [day, day.slice(0, 7)],
    });
    const res = await post(h.port, "What is the capital of Peru?");
    expect(res.status).toBe(503);
    expect(h.modelCalls()).toBe(0);
    expect(res.headers.get("x-should-retry")).toBe("false");
  });
});
