// The local-model path against the REAL llama.cpp server (Debian's llama-server with the project's tiny model).
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { llamaAvailable, llamaMissingMessage, type startLlamaServer } from "../support/llama-server.ts";
import { API_KEY, type Harness, startHarness } from "./harness.ts";

const available = llamaAvailable();
if (!available && process.env["CI"] === "true") throw new Error(llamaMissingMessage());

describe.skipIf(!available)("orchestrator with the real llama.cpp server", () => {
  let llama: Awaited<ReturnType<typeof startLlamaServer>>;
  let h: Harness;
  beforeAll(async () => {
    const { startLlamaServer } = await import("../support/llama-server.ts");
    llama = await startLlamaServer();
    h = await startHarness({
      router: () => ({
        providers: {
          groq: { kind: "groq", baseUrl: "http://127.0.0.1:9/openai/v1", model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 500 },
          local: { kind: "llama-cpp", baseUrl: `${llama.url}/v1`, model: "tiny", timeoutMs: 10_000 },
        },
        chain: ["groq", "local"],
        retry: { maxAttempts: 1 },
      }),
      conversation: { maxReplyTokens: 24 },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await llama?.stop();
  });

  it("falls back from an unreachable Groq to the local model and replies once", async () => {
    const id = await h.ask("c1", "Tell me something about your service levels");
    const [reply] = await h.waitForReplies(1, 30_000);
    expect(reply!.kind).toBe("answer");
    expect(reply!.replyKey).toBe(`${id}:answer`);
    expect(reply!.text.length).toBeGreaterThan(0);
    const rows = await h.store.client.execute("SELECT source, provider, reason FROM router_decisions");
    expect(rows.rows.map((r) => [r["source"], r["provider"]])).toEqual([["model", "local"]]);
    expect(String(rows.rows[0]!["reason"])).toMatch(/groq/);
  }, 60_000);

  it("model `local` of the OpenAI endpoint goes straight to llama.cpp", async () => {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${h.port}/v1`, maxRetries: 0 });
    const res = await client.chat.completions.create({ model: "local", messages: [{ role: "user", content: "hello" }], max_tokens: 8 })
      .withResponse();
    expect(res.response.headers.get("x-aideazz-route")).toBe("local:local");
    expect(res.data.usage!.completion_tokens).toBeGreaterThan(0);
  }, 60_000);

  it("the OpenAI endpoint's `local` and the bus turns send llama.cpp one call at a time between them", async () => {
    let busiest = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const slots = await (await fetch(`${llama.url}/slots`)).json() as { is_processing: boolean }[];
        busiest = Math.max(busiest, slots.filter((s) => s.is_processing).length);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const client = new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${h.port}/v1`, maxRetries: 0 });
    const calls = Array.from({ length: 4 }, (_, i) =>
      client.chat.completions.create({
        model: "local",
        messages: [{ role: "user", content: `Describe your plans in detail, number ${i}` }],
        max_tokens: 64,
      }));
    await Promise.all(Array.from({ length: 4 }, (_, i) => h.ask(`s${i}`, `Tell me about your service levels, ${i}`)));
    const answers = await Promise.all(calls);
    const replies = await h.waitForReplies(5, 60_000); // the first test's reply, and these four
    polling = false;
    await poll;
    expect(answers.every((a) => a.choices[0]!.message.content!.length > 0)).toBe(true);
    expect(replies.filter((r) => r.kind === "answer")).toHaveLength(5);
    expect(busiest).toBe(1);
  }, 90_000);
});
