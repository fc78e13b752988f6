/**
 * The user's `/bot` ("give me the assistant again") when the chat is no longer paused: the operator resumed it a
 * moment before, or the user tapped /bot twice. The user was told to send it (noAnswerHandoffText).
 */
import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const toOps = () => h.replies.filter((r) => r.agent === OPERATOR.agent);

describe("/bot on a chat that is not paused", () => {
  it("without a model, /bot after the operator's /resume does not hand the chat to a person again", async () => {
    h = await startRolesHarness({
      roles: { support: { kind: "support", systemPrompt: "You are Example Co's support bot.", operator: OPERATOR } },
      channels: { web: "support" },
      noModel: true,
    });
    await h.ask("web", "c1", "Do you sell gift cards?");
    await h.waitForReplies(2);
    expect(h.replies.find((r) => r.agent === "web")!.text).toContain("Send /bot to talk to the assistant again.");
    // The operator answers and gives the chat back; the user, as told, also sends /bot.
    await h.ask(OPERATOR.agent, "777", "/reply 1 Yes, from 10 to 200 EUR.");
    await h.ask(OPERATOR.agent, "777", "/resume 1");
    await h.waitForReplies(6);
    await h.ask("web", "c1", "/bot");
    await h.waitForReplies(7);
    await new Promise((r) => setTimeout(r, 700));
    expect(await h.rows("SELECT state FROM handoffs WHERE chat = 'web:c1'")).toMatchObject([{ state: "active" }]);
    expect(toOps().filter((r) => r.text.startsWith("Handoff #"))).toHaveLength(1);
  });

  it("with a model, /bot on a chat that is not paused is no question for the model", async () => {
    h = await startRolesHarness({
      roles: { support: { kind: "support", systemPrompt: "You are Example Co's support bot.", operator: OPERATOR } },
      channels: { web: "support" },
    });
    await h.ask("web", "c2", "/human");
    await h.waitForReplies(2);
    await h.ask("web", "c2", "/bot");
    await h.waitForReplies(4);
    h.groq.script({ kind: "ok", text: "I'm not sure what /bot means. How can I help?" });
    await h.ask("web", "c2", "/bot"); // tapped twice
    await h.waitForReplies(5);
    await new Promise((r) => setTimeout(r, 500));
    expect(h.modelCalls()).toBe(0);
  });
});
