// A turn whose request every provider refuses as invalid (400: the conversation no longer fits the model's context
// window) is not handled as an outage ("temporarily unavailable", a retry of the same doomed request at every bus
// attempt, then a dead letter): the user gets conversation.refusedText at once, after one provider call. A 400 (or
// 404) is also what a provider answers when the operator's configured model is gone (Groq: 400
// `model_decommissioned`, 404 `model_not_found`): nothing the user can rephrase, so that turn takes the fallback path
// (retries, then a dead letter that `bus dlq retry` replays once the operator sets a current model).
import { afterEach, describe, expect, it } from "vitest";
import { conversationSchema } from "../../src/agents/orchestrator/config.ts";
import { type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const start = () =>
  startRolesHarness({
    roles: { help: { kind: "support", systemPrompt: "You answer questions about Example Co." } },
    channels: { web: "help" },
  });
const refusedText = conversationSchema.parse({}).refusedText;

describe("a request every provider refuses as invalid", () => {
  it("is not retried by the bus as if the providers were down", async () => {
    h = await start();
    // Groq's answer to a prompt over the model's context window.
    h.groq.setDefault({
      kind: "error",
      status: 400,
      type: "invalid_request_error",
      code: "context_length_exceeded",
      message: "Please reduce the length of the messages or completion.",
    });
    await h.ask("web", "c1", "Here is my whole order history, what went wrong?");
    await h.waitForReplies(1);
    await new Promise((r) => setTimeout(r, 2_500)); // conversation.maxAttempts 3, retryBaseMs 200
    const dead = await h.rows("SELECT count(*) AS n FROM bus_dead_letters");
    expect({ calls: h.modelCalls(), replies: h.replies.map((r) => [r.kind, r.text]), dead: Number(dead[0]!["n"]) }).toEqual({
      calls: 1,
      replies: [["notice", refusedText]],
      dead: 0,
    });
  });

  it("a decommissioned Groq model does not tell the user to rephrase, and the message is kept for a replay", async () => {
    h = await start();
    // Groq's documented answer for a model it retired.
    h.groq.setDefault({
      kind: "error",
      status: 400,
      type: "invalid_request_error",
      code: "model_decommissioned",
      message: "The model `llama-3.1-8b-instant` has been decommissioned and is no longer supported.",
    });
    await h.ask("web", "c1", "Do you ship to Portugal?");
    await h.waitForReplies(1);
    await new Promise((r) => setTimeout(r, 2_500)); // conversation.maxAttempts 3, retryBaseMs 200
    const dead = await h.rows("SELECT count(*) AS n FROM bus_dead_letters");
    expect({ toldToRephrase: h.replies.some((r) => r.text === refusedText), keptForReplay: Number(dead[0]!["n"]) })
      .toEqual({ toldToRephrase: false, keptForReplay: 1 });
  }, 20_000);
});
