// What the Anthropic provider sends, against the Messages API's request rules (a request outside them is a 400).
import { afterEach, describe, expect, it } from "vitest";
import { createAnthropicProvider } from "../../../src/router/providers/anthropic.ts";
import type { ChatRequest } from "../../../src/router/providers/types.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../../fakes/anthropic.ts";

const KEY = "sk-ant-body-test-key-0123456789";
let fake: FakeAnthropic | undefined;
afterEach(() => fake?.close());

/** The body the provider sent for `req`. */
async function sent(req: Omit<ChatRequest, "model" | "maxTokens">): Promise<Record<string, unknown>> {
  fake = await startFakeAnthropic({ apiKey: KEY });
  const p = createAnthropicProvider({ name: "claude", apiKey: KEY, baseUrl: fake.url }, { fetch, now: Date.now });
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
});
