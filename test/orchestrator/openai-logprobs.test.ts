// The OpenAI endpoint refuses what it cannot do rather than ignore it (n > 1, tools, response_format, images):
// `logprobs: true` (with `top_logprobs`) gets 400 before any provider is paid, not 200 with `logprobs: null` that
// the caller's `choice.logprobs.content` then fails on.
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

describe("OpenAI endpoint: logprobs", () => {
  it("a request for logprobs is refused with 400 (not supported), not answered without them", async () => {
    h.groq.setDefault({ kind: "ok", text: "positive" });
    const before = h.modelCalls();
    const outcome = await client.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "Sentiment of: I love it" }],
      logprobs: true,
      top_logprobs: 3,
    }).then(
      (r) => ({ status: 200, logprobs: r.choices[0]!.logprobs }),
      (err) => ({ status: err.status as number, logprobs: undefined }),
    );
    expect({ ...outcome, providerCalls: h.modelCalls() - before }).toEqual({ status: 400, logprobs: undefined, providerCalls: 0 });
  });
});
