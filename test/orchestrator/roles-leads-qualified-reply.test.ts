/**
 * A qualified lead's notice in the operator chat, where `#N` is a handoff's number: it names the lead by its chat key,
 * never by a bare number (`/reply 1` would reach handoff #1, another customer), and its `/reply <chat key>` reaches
 * that visitor though their chat was never handed off. A field cut at 200 characters is cut between characters:
 * half of an emoji's surrogate pair is text Telegram refuses, and the notice goes out once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ANSWER = "Hi Ann, this is Max from Acme sales: shall we talk tomorrow?";

describe("a qualified lead's notice next to handoff numbers", () => {
  it("names no number the commands misread, and its /reply reaches that visitor, not handoff #1's", async () => {
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
    const engaged = (chat: string) => async () =>
      (await h.rows("SELECT 1 FROM leads WHERE chat = ? AND stage = 'engaged'", [chat])).length === 1;
    // v1 becomes lead #1, v2 lead #2; v2 asks for a person: handoff #1.
    h.groq.script({ kind: "ok", text: "Hello! How can we help?" }, { kind: "ok", text: '{"name": "Ann Lee"}' });
    await h.ask("site", "v1", "Hi, I'm Ann Lee");
    await h.waitFor(engaged("site:v1"));
    h.groq.script({ kind: "ok", text: "Hi Bob! How can we help?" }, { kind: "ok", text: '{"name": "Bob Roe"}' });
    await h.ask("site", "v2", "Hi, I'm Bob Roe");
    await h.waitFor(engaged("site:v2"));
    await h.ask("site", "v2", "/human");
    await h.waitFor(() => h.replies.some((r) => r.text.startsWith("Handoff #1 from site:v2")));
    h.groq.script({ kind: "ok", text: "Great, we'll be in touch." }, {
      kind: "ok",
      text: JSON.stringify({
        company: "Acme Ltd",
        need: "a support chatbot",
        budget: "$5k",
        timeline: "next month",
        contact: "ann@acme.io",
      }),
    });
    await h.ask("site", "v1", "Acme Ltd, we need a support chatbot, $5k, next month, ann@acme.io");
    await h.waitFor(() => h.replies.some((r) => r.text.startsWith("Qualified lead")));
    const notice = h.replies.find((r) => r.text.startsWith("Qualified lead"))!.text;
    expect(notice).not.toMatch(/#\d/);
    expect(notice.split("\n")[0]).toBe("Qualified lead in site:v1 (score 100, role sdr):");
    expect(notice.split("\n").at(-1)).toBe("Answer: /reply site:v1 <text>");

    await h.ask(OPERATOR.agent, OPERATOR.chatId, `/reply site:v1 ${ANSWER}`);
    await h.waitFor(() => h.replies.some((r) => r.agent === OPERATOR.agent && /^(Sent|No handoff)/.test(r.text)));
    await sleep(300);
    expect(h.replies.filter((r) => r.agent === OPERATOR.agent).at(-1)!.text).toBe(
      "Sent to site:v1 (the bot is answering this chat).",
    );
    expect(h.replies.filter((r) => r.chatId === "v1").at(-1)!.text).toBe(ANSWER);
    expect(h.replies.filter((r) => r.chatId === "v2").map((r) => r.text)).not.toContain(ANSWER);
    // The bot, still answering Ann, knows what Max wrote.
    expect(await h.rows("SELECT role FROM conversation_turns WHERE chat = 'site:v1' AND text = ?", [ANSWER])).toEqual([
      { role: "assistant" },
    ]);
  });
});

describe("a qualified lead's notice with a long field", () => {
  it("cuts the field at 200 between characters: an emoji at the cut stays whole, not half a surrogate pair", async () => {
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
    // The emoji's two UTF-16 units are the need's 200th and 201st: a cut after 200 units splits them.
    const need = `${"a support chatbot ".repeat(11)}x😀 for our shop`;
    expect(need.indexOf("😀")).toBe(199);
    h.groq.script({ kind: "ok", text: "Great, we'll be in touch." }, {
      kind: "ok",
      text: JSON.stringify({ name: "Ann Lee", company: "Acme Ltd", need, budget: "$5k", timeline: "next month", contact: "ann@acme.io" }),
    });
    await h.ask("site", "v1", "I'm Ann Lee of Acme Ltd, we need a support chatbot, $5k, next month, ann@acme.io");
    await h.waitFor(() => h.replies.some((r) => r.text.startsWith("Qualified lead")));
    const notice = h.replies.find((r) => r.text.startsWith("Qualified lead"))!.text;
    expect(notice.isWellFormed()).toBe(true);
  });
});
