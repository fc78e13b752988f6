// A 400 (or 404) is also what a provider answers when the operator's configured model is gone (Groq: 400
// `model_decommissioned`, 404 `model_not_found`). That is nothing the user can rephrase: the turn takes the
// fallback path ("back shortly", retries, then a dead letter that `bus dlq retry` replays once the operator sets a
// current model), not conversation.refusedText.
import { afterEach, describe, expect, it } from "vitest";
import { conversationSchema } from "../../src/agents/orchestrator/config.ts";
import { type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const refusedText = conversationSchema.parse({}).refusedText;

describe("a 400 that is the operator's configuration, not the user's request", () => {
  it("a decommissioned Groq model does not tell the user to rephrase, and the message is kept for a replay", async () => {
    h = await startRolesHarness({
      roles: { help: { kind: "support", systemPrompt: "You answer questions about Example Co." } },
      channels: { web: "help" },
    });
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
