// A provider that no longer has the configured model (Groq retires models: 404 `model_not_found`, or 400
// `model_decommissioned`) is the operator's to fix, not the caller's invalid request: a 503 the SDK does not retry
// (retrying cannot help until the config changes).
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

const outcome = (p: Promise<unknown>) =>
  p.then(() => ({ status: 200, type: "ok", shouldRetry: null }), (err: { status?: number; type?: string; headers?: Headers }) => ({
    status: err.status,
    type: err.type,
    shouldRetry: err.headers?.get("x-should-retry") ?? null,
  }));

describe("OpenAI endpoint: the provider no longer has its configured model", () => {
  it("Groq's 404 model_not_found is a 503 server_error the SDK does not retry", async () => {
    h.groq.script({
      kind: "error",
      status: 404,
      type: "invalid_request_error",
      code: "model_not_found",
      message: "The model `llama-3.1-8b-instant` does not exist or you do not have access to it.",
    });
    const got = await outcome(client.chat.completions.create({ model: "fast", messages: [{ role: "user", content: "hello there" }] }));
    expect(got).toEqual({ status: 503, type: "server_error", shouldRetry: "false" });
  });

  it("Groq's 400 model_decommissioned likewise", async () => {
    h.groq.script({
      kind: "error",
      status: 400,
      type: "invalid_request_error",
      code: "model_decommissioned",
      message: "The model `llama-3.1-8b-instant` has been decommissioned and is no longer supported.",
    });
    const got = await outcome(client.chat.completions.create({ model: "fast", messages: [{ role: "user", content: "hello again" }] }));
    expect(got).toEqual({ status: 503, type: "server_error", shouldRetry: "false" });
  });
});
