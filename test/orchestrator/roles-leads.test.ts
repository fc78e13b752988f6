import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../support/tmp.ts";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await h?.close();
  await cleanup?.();
  cleanup = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(leads: Record<string, unknown> = {}) {
  return startRolesHarness({
    roles: {
      sdr: {
        kind: "leads",
        systemPrompt: "You are Acme's assistant. Find out how we can help the visitor.",
        operator: OPERATOR,
        leads,
      },
    },
    channels: { site: "sdr" },
    cache: { enabled: false },
  });
}

const lead = async () => (await h.rows("SELECT * FROM leads WHERE chat = 'site:v1'"))[0];
const events = async () =>
  (await h.rows("SELECT from_stage, to_stage, reason FROM lead_events ORDER BY id")).map((
    r,
  ) => [r["from_stage"], r["to_stage"], r["reason"]]);
const tierOf = async (inboundId: number) =>
  (await h.rows("SELECT tier FROM router_decisions WHERE inbound_id = ?", [inboundId]))[0]?.["tier"];

describe("lead qualification", () => {
  it("extracts fields after each turn, scores, qualifies once, notifies the operator once, and routes as high-value", async () => {
    h = await start();
    h.groq.script(
      { kind: "ok", text: "Nice to meet you, Ann! What do you need?" },
      {
        kind: "ok",
        text:
          '{"name": "Ann Lee", "company": "Acme Ltd", "need": null, "budget": null, "timeline": null, "contact": null}',
      },
    );
    const first = await h.ask("site", "v1", "Hi, I'm Ann Lee from Acme Ltd");
    await h.waitForReplies(1);
    await h.waitFor(async () => (await lead())?.["stage"] === "engaged");
    expect(await lead()).toMatchObject({
      name: "Ann Lee",
      company: "Acme Ltd",
      need: null,
      score: 25,
      turns: 1,
      qualified_at: null,
    });
    // The extraction is a JSON-only prompt over the conversation, including the reply just sent.
    const extraction = h.request(1);
    expect(extraction[0]!.content).toMatch(/Reply with one JSON object and nothing else/);
    expect(extraction[1]!.content).toContain(
      "Visitor: Hi, I'm Ann Lee from Acme Ltd\nAssistant: Nice to meet you, Ann!",
    );
    expect(h.request(0)[0]!.content).toContain("name, company, need, budget, timeline and contact details");

    h.groq.script(
      { kind: "ok", text: "Got it. We'll be in touch." },
      {
        kind: "ok",
        text:
          '```json\n{"need": "a support chatbot", "budget": "about $5k", "timeline": "next month", "contact": "ann@acme.io"}\n```',
      },
    );
    const second = await h.ask("site", "v1", "We need a support chatbot, about $5k, next month; ann@acme.io");
    await h.waitForReplies(3);
    await h.waitFor(async () => (await lead())?.["stage"] === "qualified");
    expect(await lead()).toMatchObject({
      name: "Ann Lee",
      company: "Acme Ltd",
      need: "a support chatbot",
      budget: "about $5k",
      timeline: "next month",
      contact: "ann@acme.io",
      score: 100,
      turns: 2,
    });
    const notice = h.replies.find((r) => r.agent === OPERATOR.agent)!;
    expect(notice).toMatchObject({ chatId: "777", replyKey: "lead:1:qualified", kind: "notice" });
    expect(notice.text).toBe([
      "Qualified lead in site:v1 (score 100, role sdr):",
      "name: Ann Lee",
      "company: Acme Ltd",
      "need: a support chatbot",
      "budget: about $5k",
      "timeline: next month",
      "contact: ann@acme.io",
      "Answer: /reply site:v1 <text>",
    ].join("\n"));

    h.groq.script({ kind: "ok", text: "Thanks Ann!" }, { kind: "ok", text: '{"name": "Ann Lee"}' });
    const third = await h.ask("site", "v1", "Great, thanks");
    await h.waitForReplies(4);
    await h.waitFor(async () => (await lead())?.["turns"] === 3 && h.modelCalls() === 6);
    await sleep(100);
    expect(h.replies.filter((r) => r.agent === OPERATOR.agent)).toHaveLength(1);
    expect([await tierOf(first), await tierOf(second), await tierOf(third)]).toEqual([
      "simple",
      "simple",
      "high-value",
    ]);
    expect(await events()).toEqual([
      [null, "new", "first message"],
      ["new", "engaged", "collected name, company"],
      ["engaged", "qualified", "score 100 >= 60"],
    ]);
  });

  it("a model that answers the extraction with junk changes nothing", async () => {
    h = await start();
    h.groq.script(
      { kind: "ok", text: "Hello!" },
      { kind: "ok", text: "Sure! The visitor seems nice." },
      { kind: "ok", text: "Hi again." },
      { kind: "ok", text: '{"name": ["Bob"], "company": {"x": 1}}' },
      { kind: "ok", text: "Welcome." },
      { kind: "ok", text: '{"name": "null", "company": "n/a", "budget": "unknown"' },
      { kind: "ok", text: "Noted, Bob." },
      { kind: "ok", text: 'Here you go: {"name": "Bob", "company": null} hope that helps' },
    );
    for (const [i, text] of ["hello", "hi there", "anyone?", "I'm Bob"].entries()) {
      await h.ask("site", "v1", text);
      await h.waitForReplies(i + 1);
      await h.waitFor(() => h.modelCalls() === 2 * (i + 1));
      await h.waitFor(async () => (await lead())?.["turns"] === i + 1);
      await sleep(50);
      if (i < 3) {
        expect(await lead()).toMatchObject({
          stage: "new",
          name: null,
          company: null,
          budget: null,
          score: 0,
        });
      }
    }
    await h.waitFor(async () => (await lead())?.["name"] === "Bob");
    expect(await lead()).toMatchObject({ stage: "engaged", score: 10 });
  });

  it("a failed extraction never resends or delays the reply; the lead waits for the next turn", async () => {
    h = await start();
    h.groq.script({ kind: "ok", text: "Hello there." }, { kind: "server_error" });
    await h.ask("site", "v1", "hello");
    await h.waitForReplies(1);
    await h.waitFor(() => h.modelCalls() === 2);
    await sleep(400);
    expect(h.replies.map((r) => [r.kind, r.text])).toEqual([["answer", "Hello there."]]);
    expect(await lead()).toMatchObject({ stage: "new", turns: 1 });
    expect(await h.rows("SELECT count(*) AS n FROM bus_dead_letters")).toMatchObject([{ n: 0 }]);
  });

  it("an extraction whose provider reports no usage still counts against the visitor's daily tokens (F3)", async () => {
    h = await start();
    h.groq.script(
      { kind: "ok", text: "Nice to meet you, Ann! What do you need?" },
      { kind: "ok", text: '{"name": "Ann Lee", "company": null}', usage: false },
    );
    await h.ask("site", "v1", "Hi, I'm Ann Lee");
    await h.waitForReplies(1);
    await h.waitFor(async () => (await lead())?.["name"] === "Ann Lee");
    const spent = async () => Number((await h.rows("SELECT tokens FROM user_tokens"))[0]?.["tokens"] ?? 0);
    // The reply reported its usage (under 100 tokens here); the extraction, none: it is counted at its most (its
    // estimated input and its 200-token reply), not as nothing.
    await h.waitFor(async () => (await spent()) > 200);
  });

  it("a visitor whose day's tokens are spent causes no extraction: FAQ answers go on without a model call (F3)", async () => {
    // The extraction once asked no budget: FAQ answers, which go on past it, are remembered turns, and each was
    // followed by a paid extraction, one model call per message of a user the budget had stopped.
    const t = await tempDir("aideazz-leads-");
    cleanup = t.cleanup;
    const faq = join(t.dir, "faq.json");
    const hours = "We are open 9 to 5, Monday to Friday.";
    await writeFile(faq, JSON.stringify({ entries: [{ id: "hours", questions: ["What are your opening hours?"], answer: hours }] }));
    h = await startRolesHarness({
      roles: {
        sdr: {
          kind: "leads",
          systemPrompt: "You are Acme's assistant. Find out how we can help the visitor.",
          operator: OPERATOR,
          faq,
        },
      },
      channels: { site: "sdr" },
      cache: { enabled: false },
      conversation: { perUserDailyTokens: 200 }, // one model turn (input + 400 reply tokens held) crosses it
    });
    const nothing = '{"name": null, "company": null, "need": null, "budget": null, "timeline": null, "contact": null}';
    h.groq.setDefault({ kind: "ok", text: nothing });
    h.groq.script({ kind: "ok", text: "Nice to meet you! What do you need?" });
    await h.ask("site", "v1", "Hi, I'm Ann from Acme and I'd like a chatbot");
    await h.waitForReplies(1);
    await h.waitFor(() => h.modelCalls() === 2); // the reply and its extraction
    const spent = async () => Number((await h.rows("SELECT tokens FROM user_tokens WHERE user_key = 'webchat:site-v1'"))[0]?.["tokens"]);
    // Settled: the extraction's hold is replaced by its usage after its call returns.
    await h.waitFor(async () => {
      const first = await spent();
      await sleep(200);
      return first > 200 && first === await spent();
    });
    const before = { calls: h.modelCalls(), tokens: await spent() };

    for (let i = 0; i < 3; i++) await h.ask("site", "v1", "What are your opening hours?");
    const replies = await h.waitForReplies(4);
    expect(replies.slice(1).map((r) => r.text)).toEqual([hours, hours, hours]);
    await h.waitFor(async () => (await lead())?.["turns"] === 4);
    await sleep(300);
    expect({ calls: h.modelCalls(), tokens: await spent() }).toEqual(before);
  });

  it("extractEvery: 2 runs the extraction after every second turn", async () => {
    h = await start({ extractEvery: 2 });
    h.groq.script({ kind: "ok", text: "One." }, { kind: "ok", text: "Two." }, {
      kind: "ok",
      text: '{"company": "Initech"}',
    });
    await h.ask("site", "v1", "first message");
    await h.waitForReplies(1);
    await h.waitFor(async () => (await lead())?.["turns"] === 1);
    expect(h.modelCalls()).toBe(1);
    await h.ask("site", "v1", "second message");
    await h.waitForReplies(2);
    await h.waitFor(async () => (await lead())?.["company"] === "Initech");
    expect(h.modelCalls()).toBe(3);
  });

  it("a handoff moves the lead to handed_off; the operator's /close closes it", async () => {
    h = await start();
    h.groq.script({ kind: "ok", text: "Hi!" }, { kind: "ok", text: '{"name": "Cy"}' });
    await h.ask("site", "v1", "I'm Cy");
    await h.waitForReplies(1);
    await h.waitFor(async () => (await lead())?.["stage"] === "engaged");
    await h.ask("site", "v1", "/human");
    await h.waitForReplies(3);
    await h.waitFor(async () => (await lead())?.["stage"] === "handed_off");
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/close 1");
    await h.waitForReplies(5);
    expect((await lead())?.["stage"]).toBe("closed");
    expect((await events()).map((e) => e[1])).toEqual(["new", "engaged", "handed_off", "closed"]);
  });

  it("a handoff on the visitor's first message (the model's marker, or /human) is the lead's too", async () => {
    h = await start();
    h.groq.script(
      { kind: "ok", text: "Let me get a colleague for that. [HANDOFF]" },
      { kind: "ok", text: '{"name": "Cy Young", "company": "Initech"}' },
    );
    await h.ask("site", "v1", "Hi, I'm Cy Young from Initech, I need a custom enterprise contract");
    await h.waitForReplies(2); // the visitor's reply and the operator's handoff notice
    await h.waitFor(async () => (await lead())?.["name"] === "Cy Young");
    expect(await lead()).toMatchObject({ stage: "handed_off", turns: 1 });
    // /human first: no answer, so no extraction; the operator's /close closes the lead it was told of.
    await h.ask("site", "v2", "/human");
    await h.waitForReplies(4);
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/close 2");
    await h.waitForReplies(6);
    expect(h.replies.filter((r) => r.agent === OPERATOR.agent).at(-1)!.text).toContain("lead closed");
    expect(await h.rows("SELECT stage FROM leads WHERE chat = 'site:v2'")).toMatchObject([{ stage: "closed" }]);
  });
});

describe("what the visitor told", () => {
  it("reaches the model as a note once the turns that told it left the history it is given", async () => {
    h = await startRolesHarness({
      roles: { sdr: { kind: "leads", systemPrompt: "You are Acme's assistant. Find out how we can help the visitor." } },
      channels: { site: "sdr" },
      cache: { enabled: false },
      conversation: { maxContextTokens: 40 },
    });
    h.groq.script(
      { kind: "ok", text: "Nice to meet you!" },
      { kind: "ok", text: '{"name": "Ann Lee", "company": "Acme Ltd"}' },
      { kind: "ok", text: "Got it, noted." },
      { kind: "ok", text: '{"need": "a support chatbot for our shop"}' },
      { kind: "ok", text: "What budget do you have in mind?" },
      { kind: "ok", text: "{}" },
    );
    await h.ask("site", "v1", "Hi, I'm Ann Lee from Acme Ltd");
    await h.waitForReplies(1);
    await h.waitFor(async () => (await lead())?.["name"] === "Ann Lee");
    await h.ask("site", "v1", "We need a support chatbot for our online shop that answers questions about orders and returns.");
    await h.waitForReplies(2);
    await h.waitFor(async () => (await lead())?.["need"] !== null);
    await h.ask("site", "v1", "What would you need from me next?");
    await h.waitForReplies(3);
    // Requests: turn 1, its extraction, turn 2, its extraction, turn 3 (whose history no longer holds turn 1).
    const sent = h.request(4);
    expect(sent.map((m) => m.content).join("\n")).not.toContain("I'm Ann Lee");
    expect(sent[1]).toEqual({
      role: "system",
      content: 'Already known about the visitor (do not ask again): {"name":"Ann Lee","company":"Acme Ltd","need":"a support chatbot for our shop"}',
    });
    expect(sent.at(-1)).toEqual({ role: "user", content: "What would you need from me next?" });
    // The first turn, nothing known yet: no note.
    expect(h.request(0).filter((m) => m.role === "system")).toHaveLength(1);
  });
});

describe("what the extraction stores", () => {
  // "Not stated", "None provided", "Unspecified", "N/A." were stored as the visitor's answers: a visitor who only
  // said what they need was qualified (score 73), the operator notified, and the model told not to ask again.
  it("a model's placeholders for what the visitor did not say are no answers", async () => {
    h = await start();
    h.groq.script(
      { kind: "ok", text: "Sure, we build those. May I have your name?" },
      {
        kind: "ok",
        text: '{"name": "Not stated", "company": "None provided", "need": "a support chatbot", ' +
          '"budget": "Unspecified", "timeline": "N/A.", "contact": "Unknown."}',
      },
    );
    await h.ask("site", "v1", "I'd like a support chatbot");
    await h.waitForReplies(1);
    await h.waitFor(async () => (await lead())?.["stage"] !== "new");
    await sleep(200);
    expect(await lead()).toMatchObject({
      name: null,
      company: null,
      need: "a support chatbot",
      budget: null,
      timeline: null,
      contact: null,
      score: 20,
      stage: "engaged",
    });
    expect(h.replies.filter((r) => r.agent === OPERATOR.agent)).toEqual([]);
  });

  // A later extraction that no longer saw the turn with the address replaced it with "WhatsApp": the operator and
  // the export lost the visitor's address.
  it("keeps an e-mail address that a later extraction replaces with a way to reach the visitor without one", async () => {
    h = await start({ extractContextTokens: 40 });
    h.groq.script(
      { kind: "ok", text: "Thanks Ann, noted." },
      { kind: "ok", text: '{"name": "Ann Lee", "contact": "ann.lee@acme.io"}' },
      { kind: "ok", text: "Good to know." },
      { kind: "ok", text: '{"contact": "WhatsApp"}' },
    );
    await h.ask("site", "v1", "I'm Ann Lee, write to me at ann.lee@acme.io");
    await h.waitForReplies(1);
    await h.waitFor(async () => (await lead())?.["contact"] === "ann.lee@acme.io");
    await h.ask(
      "site",
      "v1",
      "By the way, we are a team of twelve people in Valencia and most of us prefer to chat on WhatsApp during the day.",
    );
    await h.waitForReplies(2);
    await h.waitFor(async () => Number((await lead())?.["turns"]) === 2 && h.modelCalls() === 4);
    await sleep(200);
    // The second extraction sees only the last turn (40 tokens), but is told what is known.
    const second = h.request(3).at(-1)!.content;
    expect(second).not.toContain("write to me at");
    expect(second).toMatch(/^Known from earlier turns \(repeat a field only to correct it\): \{"name":"Ann Lee",/);
    expect(await lead()).toMatchObject({ contact: "ann.lee@acme.io" });
  });
});

describe("routing by role kind", () => {
  it("a classify rule naming a kind (support) classes the turns of a role of that kind, whatever its name", async () => {
    h = await startRolesHarness({
      roles: { helpdesk: { kind: "support", systemPrompt: "You are Example Co's helpdesk assistant, be brief." } },
      channels: { web: "helpdesk" },
      cache: { enabled: false },
      router: { classify: { rules: [{ tier: "high-value", roles: ["support"] }], default: "simple" } },
    });
    h.groq.script({ kind: "ok", text: "Sure, happy to help." });
    const id = await h.ask("web", "c1", "Can you help me with my order?");
    await h.waitForReplies(1);
    const tier = async () => (await h.rows("SELECT tier FROM router_decisions WHERE inbound_id = ?", [id]))[0]?.["tier"];
    await h.waitFor(async () => (await tier()) !== undefined);
    expect(await tier()).toBe("high-value");
  });
});
