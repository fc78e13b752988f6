// What of a message reaches the model: text parts stay separate texts (vLLM joins them with "\n"), and a message's
// `name` (OpenAI: tells participants of the same role apart) is passed on in the text, not dropped.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_KEY, type Harness, startHarness } from "./harness.ts";

let h: Harness;
let client: OpenAI;
beforeAll(async () => {
  h = await startHarness();
  client = new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${h.port}/v1`, maxRetries: 0 });
});
afterAll(() => h.close());

const sentMessages = () => (h.groq.requests.at(-1)!.json as { messages: { role: string; content: string }[] }).messages;

describe("OpenAI endpoint: message shape", () => {
  it("text parts of one message reach the model on lines of their own, not glued word to word", async () => {
    h.groq.script({ kind: "ok", text: "Bonjour, je voudrais un café." });
    await client.chat.completions.create({
      model: "smart",
      messages: [{
        role: "user",
        content: [{ type: "text", text: "Translate to French:" }, { type: "text", text: "Hello, I would like a coffee." }],
      }, { role: "assistant", content: "Sure." }, {
        role: "user",
        content: [{ type: "text", text: "Which word means" }, { type: "text", text: "coffee" }, { type: "text", text: "?" }],
      }],
    });
    const sent = sentMessages().filter((m) => m.role === "user").map((m) => m.content);
    expect(sent).toEqual(["Translate to French:\nHello, I would like a coffee.", "Which word means\ncoffee\n?"]);
  });

  it("a participant's `name` reaches the model before that message's text", async () => {
    h.groq.script({ kind: "ok", text: "Alice prefers tea, Bob coffee." });
    await client.chat.completions.create({
      model: "smart",
      messages: [
        { role: "system", content: "Summarise who wants what." },
        { role: "user", name: "alice", content: "I'd like tea." },
        { role: "user", name: "bob", content: "Coffee for me." },
      ],
    });
    expect(sentMessages().filter((m) => m.role === "user").map((m) => m.content))
      .toEqual(["alice: I'd like tea.", "bob: Coffee for me."]);
  });
});
