// What the Anthropic provider sends, against the Messages API's request rules (a request outside them is a
// 400), and how it reads the answer's stop_reason.
import { afterEach, describe, expect, it } from "vitest";
import { createAnthropicProvider } from "../../../src/router/providers/anthropic.ts";
import type { ChatProvider, ChatRequest } from "../../../src/router/providers/types.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../../fakes/anthropic.ts";

const KEY = "sk-ant-body-test-key-0123456789";
const fakes: FakeAnthropic[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) await f.close();
});

/** A provider talking to a fresh fake Anthropic. */
async function claude(): Promise<{ fake: FakeAnthropic; p: ChatProvider }> {
  const fake = await startFakeAnthropic({ apiKey: KEY });
  fakes.push(fake);
  const p = createAnthropicProvider({ name: "claude", apiKey: KEY, baseUrl: fake.url }, { fetch, now: Date.now });
  return { fake, p };
}

/** The body the provider sent for `req`. */
async function sent(req: Omit<ChatRequest, "model" | "maxTokens">): Promise<Record<string, unknown>> {
  const { fake, p } = await claude();
  await p.chat({ model: "claude-haiku-4-5", maxTokens: 16, ...req }, { signal: AbortSignal.timeout(5_000) });
  return fake.requests.at(-1)!.json as Record<string, unknown>;
}

describe("Anthropic request body", () => {
  it("a temperature over 1 (OpenAI's range is 0-2, Anthropic's 0-1) is sent as 1", async () => {
    expect(await sent({ temperature: 1.5, messages: [{ role: "user", content: "hi" }] })).toMatchObject({ temperature: 1 });
  });

  it("a message without text is left out (Anthropic refuses empty content), but for a final assistant one", async () => {
    const body = await sent({
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "" },
        { role: "user", content: "again?" },
        { role: "assistant", content: "" },
      ],
    });
    expect(body["messages"]).toEqual([
      { role: "user", content: "hi" },
      { role: "user", content: "again?" },
      { role: "assistant", content: "" },
    ]);
  });

  it("a stop Anthropic refuses (empty or whitespace only, as OpenAI's common \"\\n\") is left out", async () => {
    const messages = [{ role: "user" as const, content: "List three fruits" }];
    const body = await sent({ messages, stop: ["\n", " \t", "", "END"] });
    expect(body).toMatchObject({ stop_sequences: ["END"] });
    expect(await sent({ messages, stop: ["\n"] })).not.toHaveProperty("stop_sequences");
  });

  it("a final assistant text goes without its trailing whitespace (Anthropic refuses it), an earlier one as is", async () => {
    const body = await sent({
      messages: [
        { role: "user", content: "Write a haiku" },
        { role: "assistant", content: "Which season?\n" },
        { role: "user", content: "Spring" },
        { role: "assistant", content: "Here is a haiku:\n" },
      ],
    });
    expect(body["messages"]).toEqual([
      { role: "user", content: "Write a haiku" },
      { role: "assistant", content: "Which season?\n" },
      { role: "user", content: "Spring" },
      { role: "assistant", content: "Here is a haiku:" },
    ]);
  });
});

describe("Anthropic answer", () => {
  it("stop_reason model_context_window_exceeded is a cut answer (length, as max_tokens), streamed or not", async () => {
    // Read as "other", the OpenAI endpoint reported finish_reason "stop": a cut answer shown as complete.
    const { fake, p } = await claude();
    fake.setDefault({ kind: "ok", stopReason: "model_context_window_exceeded" });
    const req = { model: "claude-sonnet-4-5", maxTokens: 16, messages: [{ role: "user" as const, content: "hi" }] };
    const signal = AbortSignal.timeout(5_000);
    expect((await p.chat(req, { signal })).finishReason).toBe("length");
    const ends: string[] = [];
    for await (const c of p.stream!(req, { signal })) if (c.type === "end") ends.push(c.finishReason);
    expect(ends).toEqual(["length"]);
  });
});
