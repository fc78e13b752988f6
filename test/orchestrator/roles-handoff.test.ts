import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const HANDOFF_TEXT = "I've asked a person from our team to take over. They'll reply here.";
const RESUMED = "You're chatting with our assistant again.";

function start(operator: boolean | { agent: string; chatId: string } = true) {
  return startRolesHarness({
    roles: {
      support: {
        kind: "support",
        systemPrompt: "You are Example Co's support bot. Be brief and friendly with every customer.",
        ...(operator ? { operator: operator === true ? OPERATOR : operator } : {}),
      },
    },
    channels: { web: "support" },
  });
}

/** Replies on different topics arrive in any order: compare them sorted. */
const sorted = (pairs: string[][]) => [...pairs].sort((a, b) => a.join().localeCompare(b.join()));
const toOperator = () => h.replies.filter((r) => r.agent === OPERATOR.agent);
const toUser = () => h.replies.filter((r) => r.agent === "web");

describe("human handoff", () => {
  it("with no model, a question nothing answers goes to the operator, and the user is told a person will reply", async () => {
    h = await startRolesHarness({
      roles: {
        support: { kind: "support", systemPrompt: "You are Example Co's support bot.", greeting: "Hi there!", operator: OPERATOR },
      },
      channels: { web: "support" },
      noModel: true,
    });
    // Small talk asks nothing: a greeting gets the role's, thanks nothing, and nobody is called for either.
    await h.ask("web", "c1", "Hello!");
    await h.waitForReplies(1);
    await h.ask("web", "c1", "Thanks!");
    const question = `Do you sell gift cards? ${"I would like one for my sister, who loves your shop. ".repeat(12)}Which amounts?`;
    await h.ask("web", "c1", question);
    await h.waitForReplies(3);
    expect(toUser().map((r) => r.text)).toEqual([
      "Hi there!",
      "I don't have an answer to that yet. I've passed your question to a person from our team, who will reply here. " +
      "Send /bot to talk to the assistant again.",
    ]);
    const [notice] = toOperator();
    expect(notice!.text).toContain(
      "Handoff #1 from web:c1 (role support): the FAQ has no answer and no model is configured.",
    );
    expect(notice!.text).toContain(`User: ${question}`); // whole, past the 500 characters of earlier turns
    expect(await h.rows("SELECT state FROM handoffs WHERE chat = 'web:c1'")).toMatchObject([{ state: "paused" }]);
  });

  it("/human pauses the chat, forwards the conversation, relays the operator's /reply, and /resume gives it back", async () => {
    h = await start();
    h.groq.script({ kind: "ok", text: "We ship worldwide." }, { kind: "ok", text: "Mexico too: 5 days." });
    await h.ask("web", "c1", "Do you ship to Canada?");
    await h.waitForReplies(1);
    await h.ask("web", "c1", "/human");
    await h.waitForReplies(3);
    expect(toUser().map((r) => r.text)).toEqual(["We ship worldwide.", HANDOFF_TEXT]);
    const [notice] = toOperator();
    expect(notice).toMatchObject({ chatId: OPERATOR.chatId, kind: "notice" });
    expect(notice!.text).toContain("Handoff #1 from web:c1 (role support): the user asked for a person.");
    expect(notice!.text).toContain("User: Do you ship to Canada?\nBot: We ship worldwide.");
    expect(notice!.text).toContain("/reply 1 <text>");
    expect(await h.rows("SELECT state, operator_agent, operator_chat FROM handoffs WHERE chat = 'web:c1'"))
      .toMatchObject([
        { state: "paused", operator_agent: "tg-ops", operator_chat: "777" },
      ]);

    // Paused: forwarded to the operator, no bot answer, no model call.
    await h.ask("web", "c1", "Hello? Is anyone there?");
    await h.waitForReplies(4);
    expect(h.replies[3]).toMatchObject({ agent: "tg-ops", chatId: "777" });
    expect(h.replies[3]!.text).toMatch(/^#1 web:c1: Hello\? Is anyone there\?\n\(\/reply 1/);
    expect(h.modelCalls()).toBe(1);

    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/reply 1 Hi, this is Ana. Yes, we ship to Canada.");
    await h.waitForReplies(6);
    expect(h.replies.slice(4).find((r) => r.agent === "web")).toMatchObject({
      chatId: "c1",
      text: "Hi, this is Ana. Yes, we ship to Canada.",
      kind: "answer",
    });
    expect(h.replies.slice(4).find((r) => r.agent === "tg-ops")!.text).toBe("Sent to #1 web:c1.");

    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/resume #1");
    await h.waitForReplies(8);
    expect(sorted(h.replies.slice(6).map((r) => [r.agent, r.text]))).toEqual([
      ["tg-ops", "#1 web:c1 is back with the bot."],
      ["web", RESUMED],
    ]);
    expect(await h.rows("SELECT state FROM handoffs")).toMatchObject([{ state: "active" }]);

    await h.ask("web", "c1", "Thanks! And to Mexico?");
    await h.waitForReplies(9);
    expect(h.replies[8]).toMatchObject({ agent: "web", text: "Mexico too: 5 days." });
    expect(h.modelCalls()).toBe(2);
    // The model sees what happened while it was paused: the user's message and the operator's answer.
    expect(h.request(1).slice(1)).toEqual([
      { role: "user", content: "Do you ship to Canada?" },
      { role: "assistant", content: "We ship worldwide." },
      { role: "user", content: "Hello? Is anyone there?" },
      { role: "assistant", content: "Hi, this is Ana. Yes, we ship to Canada." },
      { role: "user", content: "Thanks! And to Mexico?" },
    ]);
  });

  it("the model's [HANDOFF] marker is stripped and hands off; the user's /bot resumes", async () => {
    h = await start();
    h.groq.script({ kind: "ok", text: "Refunds need a colleague, one moment. [HANDOFF]" }, {
      kind: "ok",
      text: "Back to help!",
    });
    await h.ask("web", "c2", "I want a refund for order 991");
    await h.waitForReplies(2);
    expect(toUser().map((r) => r.text)).toEqual(["Refunds need a colleague, one moment."]);
    expect(toOperator()[0]!.text).toContain(
      "Handoff #1 from web:c2 (role support): the assistant asked for a person.",
    );
    expect(toOperator()[0]!.text).toContain(
      "User: I want a refund for order 991\nBot: Refunds need a colleague, one moment.",
    );
    // The system prompt tells the model about the marker.
    expect(h.request(0)[0]!.content).toContain("include [HANDOFF] in your reply");

    await h.ask("web", "c2", "ok waiting");
    await h.waitForReplies(3);
    expect(h.replies[2]!.agent).toBe("tg-ops");
    await h.ask("web", "c2", "/bot");
    await h.waitForReplies(5);
    expect(sorted(h.replies.slice(3).map((r) => [r.agent, r.text]))).toEqual([
      ["tg-ops", "#1 web:c2: the user gave the chat back to the bot."],
      ["web", RESUMED],
    ]);
    await h.ask("web", "c2", "What are your opening hours today?");
    await h.waitForReplies(6);
    expect(h.replies[5]).toMatchObject({ agent: "web", text: "Back to help!" });
    expect(h.modelCalls()).toBe(2);
  });

  it("a model reply that is only the marker sends the handoff text, never an empty message", async () => {
    h = await start();
    h.groq.script({ kind: "ok", text: " [handoff] " });
    await h.ask("web", "c6", "I need to talk about a legal matter");
    await h.waitForReplies(2);
    expect(toUser().map((r) => r.text)).toEqual([HANDOFF_TEXT]);
    expect(toOperator()[0]!.text).toContain(`User: I need to talk about a legal matter\nBot: ${HANDOFF_TEXT}`);
  });

  it("the operator chat gets only operator answers: help, /list, unknown handoffs; never a model call", async () => {
    h = await start();
    await h.ask("web", "c3", "/human");
    await h.waitForReplies(2);
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "what's going on?");
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/list");
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/reply 99 hello");
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/reply 1");
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/help");
    await h.waitForReplies(7);
    const answers = h.replies.slice(2);
    expect(answers.every((r) => r.agent === "tg-ops" && r.chatId === "777")).toBe(true);
    expect(answers[0]!.text).toMatch(/^Operator commands:/);
    expect(answers[1]!.text).toMatch(
      /^Waiting for a person:\n#1 web:c3 \(role support, \d+ min\): the user asked for a person$/,
    );
    expect(answers[2]!.text).toBe('No handoff "99" for this chat. /list shows the chats waiting for you.');
    expect(answers[3]!.text).toMatch(/^\/reply needs a text/);
    expect(answers[4]!.text).toMatch(/^Operator commands:/);
    expect(h.modelCalls()).toBe(0);
  });

  it("a forum group as the operator chat: commands from any topic are the operator's, answered in that topic", async () => {
    const forum = { agent: OPERATOR.agent, chatId: "-1007" };
    h = await start(forum);
    await h.ask("web", "c6", "/human");
    await h.waitForReplies(2);
    expect(toOperator()[0]).toMatchObject({ chatId: "-1007", kind: "notice" });
    await h.ask(OPERATOR.agent, "-1007/3", "/reply 1 Hello from the team.");
    await h.waitForReplies(4);
    expect(sorted(h.replies.slice(2).map((r) => [r.agent, r.chatId, r.text]))).toEqual([
      ["tg-ops", "-1007/3", "Sent to #1 web:c6."],
      ["web", "c6", "Hello from the team."],
    ]);
    // The group's General topic is the operator's too; another group's topic is not.
    await h.ask(OPERATOR.agent, "-1007", "/list");
    await h.waitForReplies(5);
    expect(h.replies[4]).toMatchObject({ chatId: "-1007", text: expect.stringMatching(/^Waiting for a person:/) });
    h.groq.script({ kind: "ok", text: "Hi!" });
    await h.ask(OPERATOR.agent, "-10077/3", "/list");
    await h.waitForReplies(6);
    expect(h.replies[5]).toMatchObject({ chatId: "-10077/3", text: "Hi!" });
    expect(h.modelCalls()).toBe(1);
  });

  it("an operator named as one topic of a forum takes commands from the group's other topics too", async () => {
    h = await start({ agent: OPERATOR.agent, chatId: "-1008/5" });
    await h.ask("web", "c7", "/human");
    await h.waitForReplies(2);
    expect(toOperator()[0]).toMatchObject({ chatId: "-1008/5", kind: "notice" });
    await h.ask(OPERATOR.agent, "-1008", "/reply 1 Hello from General.");
    await h.waitForReplies(4);
    expect(sorted(h.replies.slice(2).map((r) => [r.agent, r.chatId, r.text]))).toEqual([
      ["tg-ops", "-1008", "Sent to #1 web:c7."],
      ["web", "c7", "Hello from General."],
    ]);
    expect(h.modelCalls()).toBe(0);
  });

  it("two roles' operators on two topics of one forum: a command from any topic reaches either one's handoffs", async () => {
    const operatorOn = (topic: number) => ({ agent: OPERATOR.agent, chatId: `-1009/${topic}` });
    h = await startRolesHarness({
      roles: {
        support: { kind: "support", systemPrompt: "You are Example Co's support bot.", operator: operatorOn(5) },
        sales: { kind: "support", systemPrompt: "You are Example Co's sales bot.", operator: operatorOn(6) },
      },
      channels: { web: "support", shop: "sales" },
    });
    await h.ask("shop", "c1", "/human");
    await h.waitForReplies(2);
    expect(toOperator()[0]).toMatchObject({ chatId: "-1009/6" });
    await h.ask(OPERATOR.agent, "-1009/5", "/list"); // the other role's topic lists it too
    await h.waitForReplies(3);
    expect(h.replies.at(-1)!.text).toContain("shop:c1");
    await h.ask(OPERATOR.agent, "-1009", "/reply 1 Hello from General.");
    await h.waitForReplies(5);
    expect(sorted(h.replies.slice(3).map((r) => [r.agent, r.chatId, r.text]))).toEqual([
      ["shop", "c1", "Hello from General."],
      ["tg-ops", "-1009", "Sent to #1 shop:c1."],
    ]);
  });

  it("a second /human while paused is forwarded, not a second handoff; /close resumes (a support chat has no lead)", async () => {
    h = await start();
    await h.ask("web", "c4", "/human");
    await h.waitForReplies(2);
    await h.ask("web", "c4", "/human");
    await h.waitForReplies(3);
    expect(h.replies[2]!.text).toMatch(/^#1 web:c4: \/human/);
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/close web:c4");
    await h.waitForReplies(5);
    expect(sorted(h.replies.slice(3).map((r) => [r.agent, r.text]))).toEqual([
      ["tg-ops", "#1 web:c4 is back with the bot."],
      ["web", RESUMED],
    ]);
    expect(await h.rows("SELECT count(*) AS n FROM handoffs")).toMatchObject([{ n: 1 }]);
    // Again: nothing to resume, and no lead that was closed.
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/close web:c4");
    await h.waitForReplies(6);
    expect(h.replies[5]!.text).toBe("#1 web:c4 is not paused.");
  });

  it("a paused chat's messages count against the rate limit: a flood does not reach the operator", async () => {
    h = await startRolesHarness({
      roles: { support: { kind: "support", systemPrompt: "You are Example Co's support bot, be brief.", operator: OPERATOR } },
      channels: { web: "support" },
      conversation: { perUserPerMinute: 3 },
    });
    await h.ask("web", "c5", "/human"); // the minute's first message
    await h.waitForReplies(2);
    for (let i = 0; i < 8; i++) await h.ask("web", "c5", `spam ${i}`);
    // The 2nd and 3rd are forwarded, the 4th gets the minute's one notice, the rest nothing.
    await h.waitForReplies(5);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(toOperator().filter((r) => /spam \d/.test(r.text)).map((r) => r.text.match(/spam \d/)![0])).toEqual(["spam 0", "spam 1"]);
    expect(toUser().slice(1).map((r) => r.text)).toEqual([
      "You're sending messages faster than I can answer. Please wait a minute.",
    ]);
  });

  // Handoffs were matched and forwarded by the operator chat stored when they started: after the config named another
  // operator chat (and a restart), a chat paused before went on forwarding to the old one and was in no one's /list.
  it("a chat paused under an earlier operator chat follows the role's operator chat as configured now", async () => {
    h = await start();
    await h.ask("web", "c8", "/human");
    await h.waitForReplies(2);
    await h.rows("UPDATE handoffs SET operator_chat = '555' WHERE chat = 'web:c8'"); // as paused under the old config
    await h.ask("web", "c8", "Hello? Is anyone there?");
    await h.waitForReplies(3);
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/list");
    await h.waitForReplies(4);
    const [forwarded, list] = h.replies.slice(2);
    expect(forwarded).toMatchObject({
      chatId: OPERATOR.chatId,
      text: expect.stringContaining("Hello? Is anyone there?"),
    });
    expect(list!.text).toContain("#1 web:c8");
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/resume 1");
    await h.waitForReplies(6);
    expect(sorted(h.replies.slice(4).map((r) => [r.chatId, r.text]))).toEqual([
      ["777", "#1 web:c8 is back with the bot."],
      ["c8", RESUMED],
    ]);
  });

  it("without an operator, /human promises no person (nobody would be told) and the bot keeps answering", async () => {
    h = await start(false);
    h.groq.script({ kind: "ok", text: "Still here." });
    await h.ask("web", "c5", "/human");
    await h.ask("web", "c5", "Can you help me with my invoice?");
    await h.waitForReplies(2);
    expect(h.replies.map((r) => r.text)).toEqual([
      "No one from our team can take over this chat right now, so I'll keep helping as best I can.",
      "Still here.",
    ]);
    expect(await h.rows("SELECT * FROM handoffs")).toEqual([]);
  });
});
