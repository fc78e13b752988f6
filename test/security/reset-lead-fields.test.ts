// /reset in a leads role ("Done: I've forgotten our conversation"): the lead row stays (the business's record), but
// the model calls after it carry nothing the visitor said before, nor the lead's fields collected from it
// ("Already known about the visitor …"), or the bot greets them by name right after saying it forgot.
import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, startRolesHarness } from "../orchestrator/roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

describe("/reset in a leads role", () => {
  it("the model calls after /reset carry nothing the visitor told before it; the lead keeps its fields", async () => {
    h = await startRolesHarness({
      roles: {
        sdr: {
          kind: "leads",
          systemPrompt: "You are Acme's assistant. Find out how we can help the visitor.",
          operator: OPERATOR,
        },
      },
      channels: { site: "sdr" },
      cache: { enabled: false },
    });
    h.groq.script(
      { kind: "ok", text: "Nice to meet you, Ann! How can we reach you?" },
      {
        kind: "ok",
        text: '{"name": "Ann Lee", "company": null, "need": null, "budget": null, "timeline": null, ' +
          '"contact": "ann.lee@example.org"}',
      },
    );
    await h.ask("site", "v1", "Hi, I'm Ann Lee, write to ann.lee@example.org");
    await h.waitForReplies(1);
    await h.waitFor(async () => (await h.rows("SELECT name FROM leads WHERE chat = 'site:v1'"))[0]?.["name"] === "Ann Lee");
    const callsBefore = h.modelCalls();

    await h.ask("site", "v1", "/reset");
    const replies = await h.waitForReplies(2);
    expect(replies[1]!.text).toMatch(/forgotten our conversation/);

    // Two turns: the first has no history, the second the first's turns only.
    h.groq.script({ kind: "ok", text: "Hello! How can I help?" }, { kind: "ok", text: "{}" });
    await h.ask("site", "v1", "What do you offer?");
    await h.waitForReplies(3);
    h.groq.script({ kind: "ok", text: "Chatbots for shops." }, { kind: "ok", text: "{}" });
    await h.ask("site", "v1", "And the price?");
    await h.waitForReplies(4);
    const first = h.request(callsBefore); // the turn's own call (the extraction follows it)
    const second = h.request(callsBefore + 2);
    expect(first.at(-1)!.content).toBe("What do you offer?");
    expect(second.at(-1)!.content).toBe("And the price?");
    for (const seen of [JSON.stringify(first), JSON.stringify(second)]) {
      expect(seen).not.toContain("Ann Lee");
      expect(seen).not.toContain("ann.lee@example.org");
    }
    expect((await h.rows("SELECT name, contact FROM leads WHERE chat = 'site:v1'"))[0]).toEqual({
      name: "Ann Lee",
      contact: "ann.lee@example.org",
    });
  }, 30_000);
});
