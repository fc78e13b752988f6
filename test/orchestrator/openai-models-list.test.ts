// `GET /v1/models` is how an OpenAI client (a model picker, `client.models.list()`) learns what it may ask for: it
// lists only the models a chat completion is routed for, so no listed model is refused `404 model_not_available`.
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { API_KEY, type Harness, startHarness } from "./harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const sdkOf = (harness: Harness) =>
  new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${harness.port}/v1`, maxRetries: 0 });

/** Each listed model, and what a chat completion with it gets (status or "ok"). */
async function listedAndAccepted(harness: Harness) {
  const sdk = sdkOf(harness);
  harness.groq.setDefault({ kind: "ok", text: "Hello." });
  const listed = (await sdk.models.list()).data.map((m) => m.id);
  const outcome: Record<string, string> = {};
  for (const id of listed) {
    outcome[id] = await sdk.chat.completions.create({ model: id, messages: [{ role: "user", content: `Say hello (${id})` }] })
      .then(() => "ok", (err: { status?: number; code?: string }) => `${err.status} ${err.code}`);
  }
  return outcome;
}

describe("OpenAI endpoint: /v1/models matches what is accepted", () => {
  it("with Groq alone (no llama-cpp provider), lists auto, fast and smart, each accepted", async () => {
    h = await startHarness();
    expect(await listedAndAccepted(h)).toEqual({ auto: "ok", fast: "ok", smart: "ok" });
  });

  it("GET /v1/models/local is a 404 model_not_available, as a chat completion with `local` is", async () => {
    h = await startHarness();
    const sdk = sdkOf(h);
    await expect(sdk.chat.completions.create({ model: "local", messages: [{ role: "user", content: "hello" }] }))
      .rejects.toMatchObject({ status: 404, code: "model_not_available" });
    await expect(sdk.models.retrieve("local")).rejects.toMatchObject({ status: 404, code: "model_not_available" });
  });

  // An unrouted model answers only what an earlier config left in the cache: not worth listing a model every new
  // question to it is refused.
  it("with no provider configured (FAQ and cache only), lists no model", async () => {
    h = await startHarness({ providers: false });
    const sdk = sdkOf(h);
    expect((await sdk.models.list()).data).toEqual([]);
    await expect(sdk.chat.completions.create({ model: "fast", messages: [{ role: "user", content: "hello" }] }))
      .rejects.toMatchObject({ status: 404, code: "model_not_available" });
  });
});
