// A turn whose request every provider refuses as invalid (400: the conversation no longer fits the model's context
// window) is not handled as an outage ("temporarily unavailable", a retry of the same doomed request at every bus
// attempt, then a dead letter): the user gets conversation.refusedText at once, after one provider call.
import { afterEach, describe, expect, it } from "vitest";
import { conversationSchema } from "../../src/agents/orchestrator/config.ts";
import { type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

describe("a request every provider refuses as invalid", () => {
  it("is not retried by the bus as if the providers were down", async () => {
    h = await startRolesHarness({
      roles: { help: { kind: "support", systemPrompt: "You answer questions about Example Co." } },
      channels: { web: "help" },
    });
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
      replies: [["notice", conversationSchema.parse({}).refusedText]],
      dead: 0,
    });
  });
});
