// The OpenAI-compatible endpoint's cache, driven by the official `openai` SDK, serves only the same prompt as sent
// (NFC, trimmed): for an API caller's task (translation, classification) case, punctuation, a greeting, "please"
// and "thanks" are the input, so an input that differs in them is answered for itself, not with another's stored
// answer.
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

async function ask(system: string, user: string, answer: string) {
  h.groq.setDefault({ kind: "ok", text: answer });
  const res = await client.chat.completions.create({
    model: "fast",
    messages: [{ role: "system", content: system }, { role: "user", content: user }],
  }).withResponse();
  return `${user} -> ${res.data.choices[0]!.message.content} (${res.response.headers.get("x-aideazz-route")})`;
}

describe("OpenAI endpoint cache: a different input is not the same question", () => {
  it("translation, punctuation and case tasks are answered for their own input, not another's stored answer", async () => {
    const cases: [system: string, first: [string, string], second: [string, string]][] = [
      // "please" is dropped anywhere by the cache key.
      ["Translate the user's text into French. Reply with the translation only.",
        ["Please close the door.", "Veuillez fermer la porte."], ["Close the door.", "Fermez la porte."]],
      // A leading greeting is dropped.
      ["Translate the user's text into German. Reply with the translation only.",
        ["Hello, how are you?", "Hallo, wie geht es dir?"], ["How are you?", "Wie geht es dir?"]],
      // Punctuation is dropped.
      ["Is the user's sentence a question? Answer yes or no.",
        ["You are coming.", "no"], ["You are coming?", "yes"]],
      // Case is dropped.
      ["Does the user's word start with a capital letter? Answer yes or no.",
        ["Paris", "yes"], ["paris", "no"]],
    ];
    const got: string[] = [];
    for (const [system, [q1, a1], [q2, a2]] of cases) {
      await ask(system, q1, a1);
      got.push(await ask(system, q2, a2));
    }
    expect(got).toEqual(cases.map(([, , [q2, a2]]) => `${q2} -> ${a2} (fast:groq)`));
  });
});
