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

  it("fields from before /reset reach no model call after it, also past the history window; ones given again do", async () => {
    h = await startRolesHarness({
      roles: {
        sdr: {
          kind: "leads",
          systemPrompt: "You are Acme's assistant. Find out how we can help the visitor.",
          operator: OPERATOR,
          leads: { threshold: 50 },
        },
      },
      channels: { site: "sdr" },
      cache: { enabled: false },
      // About three exchanges of the ones below: a fourth pushes the first out of the history the model is given.
      conversation: { maxContextTokens: 30 },
    });
    const turn = async (text: string, extracted = "{}") => {
      const calls = h.modelCalls();
      h.groq.script({ kind: "ok", text: "Noted." }, { kind: "ok", text: extracted });
      await h.ask("site", "v1", text);
      await h.waitFor(() => h.modelCalls() === calls + 2); // the turn's call and its extraction
      return calls;
    };
    await turn(
      "Hi, I'm Ann Lee, write to ann.lee@example.org",
      '{"name": "Ann Lee", "company": null, "need": null, "budget": null, "timeline": null, ' +
        '"contact": "ann.lee@example.org"}',
    );
    await h.waitFor(async () => (await h.rows("SELECT name FROM leads WHERE chat = 'site:v1'"))[0]?.["name"] === "Ann Lee");
    await h.ask("site", "v1", "/reset");
    await h.waitForReplies(2);
    const afterReset = h.modelCalls();

    for (const text of ["What do you offer?", "Do you build chatbots?", "For shops too?", "How long does it take?"]) {
      await turn(text);
    }
    await turn("Our budget is 5000 EUR.", '{"budget": "5000 EUR"}');
    await h.waitFor(async () =>
      (await h.rows("SELECT budget FROM leads WHERE chat = 'site:v1'"))[0]?.["budget"] === "5000 EUR"
    );
    for (const text of ["Can it answer in German?", "And in French?", "Who hosts it?"]) await turn(text);
    const last = await turn("What happens next?");

    // Every call after the reset, turn's and extraction's: those that carry Ann's name or address.
    const told = Array.from({ length: h.modelCalls() - afterReset }, (_, i) => i).flatMap((i) => {
      const request = JSON.stringify(h.request(afterReset + i));
      const call = `${i % 2 === 0 ? "turn" : "extraction"} ${Math.floor(i / 2) + 1}`;
      return request.includes("Ann Lee") || request.includes("ann.lee@example.org") ? [call] : [];
    });
    expect(told).toEqual([]);
    // The last turn's history no longer holds the budget's turn: the note tells the model what was given again.
    const messages = h.request(last);
    expect(messages.map((m) => m.content)).not.toContain("Our budget is 5000 EUR.");
    expect(messages.filter((m) => m.role === "system").map((m) => m.content).join("\n")).toContain("5000 EUR");
    // The business's record keeps everything collected; its score counts all of it (name 10 + contact 20 + budget
    // 20), and the operator's notice names all of it.
    const [lead] = await h.rows("SELECT name, contact, budget, score, stage FROM leads WHERE chat = 'site:v1'");
    expect(lead).toEqual({
      name: "Ann Lee",
      contact: "ann.lee@example.org",
      budget: "5000 EUR",
      score: 50,
      stage: "qualified",
    });
    const notices = h.replies.filter((r) => r.agent === OPERATOR.agent).map((r) => r.text);
    expect(notices).toHaveLength(1);
    for (const line of ["name: Ann Lee", "budget: 5000 EUR", "contact: ann.lee@example.org"]) {
      expect(notices[0]!.split("\n")).toContain(line);
    }
  }, 60_000);
});
