import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createConversations } from "../../src/agents/orchestrator/conversation.ts";
import { estimateTextTokens } from "../../src/router/chain.ts";
import { GROQ_KEY, type Harness, startHarness } from "./harness.ts";

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("orchestrator turns", () => {
  it("answers an FAQ question verbatim without a model call", async () => {
    h = await startHarness();
    const id = await h.ask("c1", "when are you open?");
    const [reply] = await h.waitForReplies(1);
    expect(reply).toMatchObject({ agent: "web", chatId: "c1", text: "We are open 9 to 5.", inReplyTo: [id], replyKey: `${id}:answer` });
    expect(h.modelCalls()).toBe(0);
    // Its trace says which FAQ entry answered.
    const route = h.agent.tracer.peek().find((e) => e.stage === "route");
    expect(route?.detail).toMatchObject({ tier: "faq", reason: expect.stringMatching(/^faq hours \(/) });
  });

  it("answers other questions with the model, with the system prompt and conversation memory", async () => {
    h = await startHarness();
    h.groq.script({ kind: "ok", text: "First answer." }, { kind: "ok", text: "Second answer." });
    await h.ask("c1", "Tell me about your refund policy for annual plans");
    await h.waitForReplies(1);
    await h.ask("c1", "and for monthly ones?");
    const replies = await h.waitForReplies(2);
    expect(replies.map((r) => r.text)).toEqual(["First answer.", "Second answer."]);
    const second = h.groq.requests[1]!.json as { messages: { role: string; content: string }[] };
    expect(second.messages).toEqual([
      { role: "system", content: expect.stringMatching(/^You are Example Co's support bot\./) },
      { role: "user", content: "Tell me about your refund policy for annual plans" },
      { role: "assistant", content: "First answer." },
      { role: "user", content: "and for monthly ones?" },
    ]);
    expect(h.groq.requests[0]!.headers["authorization"]).toBe(`Bearer ${GROQ_KEY}`);
  });

  it("a Chinese conversation's history fits maxContextTokens as the router counts tokens (~1 a character)", async () => {
    h = await startHarness();
    const conversations = createConversations(h.store.client);
    const q = "请问你们的专业版套餐每个月多少钱？我们公司有二十个员工，需要开发票。".repeat(6);
    const a = "专业版每月二十九美元，每位用户单独计费，可以开具增值税发票，请提供公司名称和税号。".repeat(6);
    for (let i = 0; i < 8; i++) {
      const question = { role: "user" as const, text: q, at: i };
      const answer = { role: "assistant" as const, text: a, at: i };
      // Inbound ids no message of this test has, so no saved answer is taken for the new question's.
      await h.store.client.batch(conversations.saveStatements("web:zh", 900_000 + i, question, answer), "write");
    }
    h.groq.script({ kind: "ok", text: "没有其他费用。" });
    await h.ask("zh", "还有别的费用吗？");
    await h.waitForReplies(1);
    const { messages } = h.groq.requests[0]!.json as { messages: { content: string }[] };
    const history = messages.slice(1, -1); // without the system prompt and the question
    expect(history.length).toBeGreaterThan(0);
    expect(history.reduce((n, m) => n + estimateTextTokens(m.content), 0)).toBeLessThanOrEqual(1_500); // default
  });

  it("serves a context-free question from the cache for another chat (exact and paraphrase) without a model call", async () => {
    h = await startHarness();
    h.groq.script({ kind: "ok", text: "Shipping to Spain takes 3 days." });
    await h.ask("a", "How long does shipping to Spain take?");
    await h.waitForReplies(1);
    await h.ask("b", "how long does shipping to Spain take");
    await h.ask("c", "How long does shipping to Spain usually take?");
    const replies = await h.waitForReplies(3);
    expect(replies.map((r) => r.text)).toEqual(Array(3).fill("Shipping to Spain takes 3 days."));
    expect(h.modelCalls()).toBe(1);
  });

  it("a burst of two questions is not answered with the cached answer of only the first", async () => {
    h = await startHarness();
    h.groq.script(
      { kind: "ok", text: "Shipping to Spain takes 3 days." },
      { kind: "ok", text: "Shipping to Spain takes 3 days, and yes, we take PayPal." },
    );
    await h.ask("a", "How long does shipping to Spain take?");
    await h.waitForReplies(1);
    // Another user sends the same question and, right after, a second one: one turn answers both.
    await h.askBurst("b", ["How long does shipping to Spain take?", "can I pay with paypal?"]);
    const replies = await h.waitForReplies(2, 15_000);
    expect(replies[1]!.text).toBe("Shipping to Spain takes 3 days, and yes, we take PayPal.");
    expect(h.modelCalls()).toBe(2);
  });

  it("a name a user gave in lower case is not greeted to every later asker", async () => {
    h = await startHarness();
    // Maria types on a keyboard without auto-capitalisation; the model greets her by name.
    h.groq.script(
      { kind: "ok", text: "Hi Maria! Orders ship within 2 days; you can track yours in the app." },
      { kind: "ok", text: "Orders ship within 2 days; you can track yours in the app." },
    );
    await h.ask("maria", "i'm maria, where is my order?");
    await h.waitForReplies(1);
    await h.ask("john", "Where is my order?");
    const replies = await h.waitForReplies(2);
    expect(replies[1]!.chatId).toBe("john");
    expect(replies[1]!.text).toBe("Orders ship within 2 days; you can track yours in the app.");
  });

  it("a sampled check of a hit whose fresh answer says the opposite is recorded as a false hit", async () => {
    h = await startHarness({ cache: { checkShare: 1 } });
    h.groq.script(
      { kind: "ok", text: "Yes, we deliver on Sundays." }, // chat a: the answer that gets cached
      { kind: "ok", text: "No, we do not deliver on Sundays." }, // the check of chat b's hit
    );
    await h.ask("a", "Do you deliver on Sundays?");
    await h.waitForReplies(1);
    await h.ask("b", "Do you deliver on Sundays?");
    const replies = await h.waitForReplies(2);
    expect(replies[1]!.text).toBe("Yes, we deliver on Sundays."); // served from the cache
    const agreed = async () => (await h.store.client.execute("SELECT agreed FROM cache_checks")).rows.map((r) => r["agreed"]);
    for (const end = Date.now() + 5_000; (await agreed()).length === 0 && Date.now() < end;) await sleep(50);
    expect(await agreed()).toEqual([0]);
  });

  it("a burst of FAQ questions gets each one's FAQ answer in one reply, without a model call", async () => {
    h = await startHarness();
    await h.askBurst("c1", ["when are you open?", "How much does the pro plan cost?"]);
    const [reply] = await h.waitForReplies(1, 15_000);
    expect(reply!.text).toBe("We are open 9 to 5.\n\nPro is $29/month.");
    expect(h.modelCalls()).toBe(0);
  });

  it("with no model, a greeting beside FAQ questions does not hide their answers", async () => {
    h = await startHarness({ providers: false });
    await h.askBurst("c1", ["hi", "when are you open?", "and how much does the pro plan cost"]);
    const [reply] = await h.waitForReplies(1, 15_000);
    expect(reply!.text).toBe("We are open 9 to 5.\n\nPro is $29/month.");
  });

  it("with no model, a burst's question the FAQ does not answer is not dropped: the reply says so", async () => {
    h = await startHarness({ providers: false });
    await h.askBurst("c1", ["when are you open?", "Do you sell gift cards?", "thanks"]);
    const [reply] = await h.waitForReplies(1, 15_000);
    expect(reply!.text).toBe("We are open 9 to 5.\n\nSorry, I don't have an answer to that.");
  });

  it("with a model, a burst with a question the FAQ does not answer goes to the model whole", async () => {
    h = await startHarness();
    h.groq.script({ kind: "ok", text: "We open at 9, and yes, we ship to Spain." });
    await h.askBurst("c1", ["when are you open?", "do you ship to Spain?"]);
    const [reply] = await h.waitForReplies(1, 15_000);
    expect(reply!.text).toBe("We open at 9, and yes, we ship to Spain.");
    const sent = h.groq.requests[0]!.json as { messages: { role: string; content: string }[] };
    expect(sent.messages.at(-1)!.content).toBe("when are you open?\ndo you ship to Spain?");
  });

  it("never caches a reply the model cut at the token limit", async () => {
    h = await startHarness();
    h.groq.script({ kind: "ok", text: "Shipping to Spain takes", finishReason: "length" }, {
      kind: "ok",
      text: "Shipping to Spain takes 3 days.",
    });
    await h.ask("a", "How long does shipping to Spain take?");
    await h.waitForReplies(1);
    await h.ask("b", "How long does shipping to Spain take?");
    const replies = await h.waitForReplies(2);
    expect(replies[1]!.text).toBe("Shipping to Spain takes 3 days.");
    expect(h.modelCalls()).toBe(2);
  });

  it("an empty model answer is no answer: never sent (or cached) as a refusal; the turn is retried", async () => {
    h = await startHarness();
    h.groq.script({ kind: "ok", text: "", finishReason: "stop" }, { kind: "ok", text: "Shipping to Spain takes 3 days." });
    const id = await h.ask("a", "How long does shipping to Spain take?");
    const replies = await h.waitForReplies(2, 15_000);
    expect(replies.map((r) => [r.kind, r.replyKey])).toEqual([["fallback", `${id}:fallback`], ["answer", `${id}:answer`]]);
    expect(replies[1]!.text).toBe("Shipping to Spain takes 3 days.");
    await h.ask("b", "How long does shipping to Spain take?");
    expect((await h.waitForReplies(3))[2]!.text).toBe("Shipping to Spain takes 3 days.");
    expect(h.modelCalls()).toBe(2);
  });

  it("a refused (content_filter) answer is neither cached nor kept in the conversation", async () => {
    h = await startHarness();
    h.groq.script({ kind: "ok", text: "Sure, here", finishReason: "content_filter" }, {
      kind: "ok",
      text: "Shipping to Spain takes 3 days.",
    }, { kind: "ok", text: "Yes, Portugal too." });
    await h.ask("a", "How long does shipping to Spain take?");
    await h.waitForReplies(1);
    await h.ask("b", "How long does shipping to Spain take?");
    expect((await h.waitForReplies(2))[1]!.text).toBe("Shipping to Spain takes 3 days.");
    await h.ask("a", "And to Portugal?");
    await h.waitForReplies(3);
    expect(h.modelCalls()).toBe(3);
    const third = h.groq.requests[2]!.json as { messages: { role: string; content: string }[] };
    expect(third.messages.filter((m) => m.role !== "system")).toEqual([{ role: "user", content: "And to Portugal?" }]);
  });

  it("never serves an answer written for one conversation to another (D7)", async () => {
    h = await startHarness();
    h.groq.script({ kind: "ok", text: "Hi Alice." }, { kind: "ok", text: "Alice, your order 123 ships Monday." }, {
      kind: "ok",
      text: "Which order do you mean?",
    });
    await h.ask("alice", "Hi, I'm Alice and my order number is 123");
    await h.waitForReplies(1);
    await h.ask("alice", "When does my order ship?");
    await h.waitForReplies(2);
    await h.ask("bob", "When does my order ship?");
    const replies = await h.waitForReplies(3);
    expect(replies[2]).toMatchObject({ chatId: "bob", text: "Which order do you mean?" });
    expect(h.modelCalls()).toBe(3);
    expect(JSON.stringify(h.groq.requests[2]!.json)).not.toContain("Alice");
  });

  it("when every provider fails: one honest fallback reply, retries, then the real answer once", async () => {
    h = await startHarness();
    h.groq.script({ kind: "server_error" }, { kind: "server_error" }, { kind: "ok", text: "Finally here." });
    const id = await h.ask("c1", "Can I change the billing address on my invoice?");
    const replies = await h.waitForReplies(2, 15_000);
    await sleep(300);
    expect(replies.map((r) => [r.kind, r.replyKey])).toEqual([["fallback", `${id}:fallback`], ["answer", `${id}:answer`]]);
    expect(replies[1]!.text).toBe("Finally here.");
    expect(h.modelCalls()).toBe(3);
  });

  it("dead-letters a message with its reason after the attempts, having sent exactly one fallback", async () => {
    h = await startHarness();
    h.groq.setDefault({ kind: "server_error" });
    await h.ask("c1", "Is the warehouse in Lisbon open on Sundays?");
    await h.waitForReplies(1);
    const end = Date.now() + 15_000;
    let dead: Awaited<ReturnType<typeof h.bus.deadLetters>> = [];
    while (dead.length === 0 && Date.now() < end) {
      await sleep(100);
      dead = await h.bus.deadLetters({ topic: "inbound" });
    }
    expect(dead).toHaveLength(1);
    expect(dead[0]!.attempts).toBe(3);
    expect(dead[0]!.lastError).toMatch(/no provider answered the simple turn: groq \(server/);
    expect(h.replies.filter((r) => r.kind === "fallback")).toHaveLength(1);
    expect(h.replies).toHaveLength(1);
    for (const line of h.logs) expect(line).not.toContain(GROQ_KEY);
    // The operator sees it on the message's trace and in the log line, which names the trace.
    const traceId = dead[0]!.traceId!;
    const stages = async () =>
      (await h.store.client.execute({ sql: "SELECT stage, detail FROM trace_events WHERE trace_id = ?", args: [traceId] }))
        .rows;
    await h.agent.flush();
    const event = (await stages()).find((r) => r["stage"] === "dead_letter");
    expect(JSON.parse(String(event?.["detail"]))).toMatchObject({ group: "orchestrator", id: dead[0]!.id });
    const logged = h.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "bus message dead-lettered");
    expect(logged?.trace).toBe(traceId);
    // One message: one failed decision and one cache lookup, whatever the attempts (the dashboard's mix and rate).
    const counted = h.agent.metrics.render().split("\n").filter((l) =>
      /^aideazz_(router_decisions|cache_lookups)_total\{/.test(l)
    );
    expect(counted.sort()).toEqual([
      'aideazz_cache_lookups_total{result="miss"} 1',
      'aideazz_router_decisions_total{outcome="failed",provider="none",tier="simple"} 1',
    ]);
  });

  it("commands: /start greets, /reset forgets the conversation", async () => {
    h = await startHarness();
    h.groq.script({ kind: "ok", text: "Noted." }, { kind: "ok", text: "Fresh start." });
    await h.ask("c1", "/start");
    await h.ask("c1", "My name is Carol and I like red plans");
    await h.ask("c1", "/reset");
    await h.ask("c1", "What do you remember about me?");
    const replies = await h.waitForReplies(4);
    expect(replies.map((r) => r.text)).toEqual([
      "Welcome to Example Co!",
      "Noted.",
      "Done: I've forgotten our conversation. How can I help?",
      "Fresh start.",
    ]);
    const last = h.groq.requests[1]!.json as { messages: unknown[] };
    expect(last.messages).toHaveLength(2); // system + the new question: nothing from before /reset
  });

  it("/human with no operator for the role says so instead of promising a person, and the bot goes on answering", async () => {
    h = await startHarness();
    h.groq.script({ kind: "ok", text: "I can help with that." });
    await h.ask("c1", "/human");
    await h.ask("c1", "is anyone there?");
    const replies = await h.waitForReplies(2);
    expect(replies.map((r) => r.text)).toEqual([
      "No one from our team can take over this chat right now, so I'll keep helping as best I can.",
      "I can help with that.",
    ]);
  });

  it("abuse limits: over-long input and a flood get a notice and no model call (F3)", async () => {
    h = await startHarness({ conversation: { perUserPerMinute: 3, maxInputChars: 100 } });
    h.groq.setDefault({ kind: "ok", text: "ok" });
    await h.ask("c1", "x".repeat(101));
    await h.waitForReplies(1);
    expect(h.replies[0]!.text).toBe("That message is too long for me. Could you shorten it?");
    expect(h.modelCalls()).toBe(0);
    for (let i = 0; i < 8; i++) await h.ask("c2", `question number ${i} about flights to city ${i}`);
    await h.waitForReplies(1 + 3 + 1);
    await sleep(500);
    const flood = h.replies.filter((r) => r.chatId === "c2").map((r) => r.text);
    // messages 1-3 answered (the first counts the too-long one's user separately), then one notice, then silence
    expect(flood).toEqual(["ok", "ok", "ok", "You're sending messages faster than I can answer. Please wait a minute."]);
    expect(h.modelCalls()).toBe(3);
  });

  it("a burst that crosses the rate limit: its messages within it are answered, then the notice for the rest (F3)", async () => {
    h = await startHarness({ conversation: { perUserPerMinute: 3 } });
    h.groq.setDefault({ kind: "ok", text: "Both plans include support; Pro adds SSO." });
    await h.askBurst("b1", ["hi", "what's the difference between basic and pro?", "does pro have SSO?", "and support?"]);
    await h.waitForReplies(2, 15_000);
    await sleep(500);
    expect(h.replies.map((r) => [r.text, r.kind])).toEqual([
      ["Both plans include support; Pro adds SSO.", "answer"],
      ["You're sending messages faster than I can answer. Please wait a minute.", "notice"],
    ]);
    expect(h.modelCalls()).toBe(1);
    const asked = JSON.stringify(h.groq.requests.at(-1)!.json);
    expect(asked).toContain("does pro have SSO?");
    expect(asked).not.toContain("and support?");
    // Each message is answered by one of the two replies, none left waiting.
    expect(h.replies[0]!.inReplyTo).toHaveLength(3);
    expect(h.replies[1]!.inReplyTo).toHaveLength(1);
    expect(await h.store.client.execute("SELECT count(*) AS n FROM chat_inbox WHERE state = 'pending'")).toMatchObject({ rows: [{ n: 0 }] });
  }, 30_000);

  it("a turn retried because every provider failed counts once against the user's limit (F3)", async () => {
    h = await startHarness({ conversation: { perUserPerMinute: 2 } });
    h.groq.script({ kind: "server_error" }, { kind: "server_error" }, { kind: "ok", text: "Finally here." });
    await h.ask("c1", "Can I change the billing address on my invoice?");
    await h.waitForReplies(2, 15_000); // the fallback, then the answer on a later attempt
    h.groq.setDefault({ kind: "ok", text: "Yes, in your account settings." });
    await h.ask("c1", "And the shipping address?");
    const replies = await h.waitForReplies(3, 15_000);
    expect(replies.map((r) => r.text).slice(1)).toEqual(["Finally here.", "Yes, in your account settings."]);
  });

  it("a turn stopped while it waits for a model slot gives its user's token hold back", async () => {
    h = await startHarness({
      router: (url) => ({
        providers: { groq: { kind: "groq", baseUrl: url, model: "m", apiKeyEnv: "GROQ_KEY", timeoutMs: 60_000 } },
        chain: ["groq"],
        deadlineMs: 60_000,
      }),
    });
    h.groq.setDefault({ kind: "hang" });
    const held = async () =>
      (await h.store.client.execute("SELECT user_key FROM user_tokens WHERE tokens > 0")).rows.map((r) => r["user_key"]);
    // The orchestrator's 16 model slots taken, the 17th turn holds its user's tokens and waits for one.
    for (let i = 1; i <= 17; i++) await h.ask(`c${i}`, `Where is my parcel number ${i}? It is late.`);
    while ((await held()).length < 17) await sleep(50);
    await h.agent.stop(); // aborts the turns after its 15 s grace
    expect(await held()).toEqual([]);
  }, 60_000);

  it("a user whose daily tokens are spent is told the limit lasts the day, not asked to wait a minute (F3)", async () => {
    // The first answer's tokens (the fake Groq counts a token per 4 characters, +8) are the user's whole day.
    h = await startHarness({ conversation: { perUserDailyTokens: 10 } });
    h.groq.setDefault({ kind: "ok", text: "We deliver there." });
    await h.ask("c1", "Do you deliver to the Canary Islands?");
    await h.waitForReplies(1, 15_000);
    await h.ask("c1", "And to Madeira?");
    const replies = await h.waitForReplies(2, 15_000);
    expect(h.modelCalls()).toBe(1);
    expect(replies[1]!.kind).toBe("notice");
    expect(replies[1]!.text).toBe("You've reached today's limit of answers from our assistant. Please come back tomorrow.");
  });

  it("an answer whose provider reports no usage still counts against its user's daily tokens (F3)", async () => {
    // An OpenAI-compatible server (a proxy) that answers without `usage`: the tokens were used all the same.
    let calls = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        calls++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ model: "m", choices: [{ message: { content: `Answer ${calls}.` }, finish_reason: "stop" }] }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    try {
      h = await startHarness({
        router: () => ({ providers: { proxy: { kind: "openai-compatible", baseUrl: url, model: "m" } }, chain: ["proxy"] }),
        conversation: { perUserDailyTokens: 300 },
      });
      await h.ask("c1", "Do you deliver to the Canary Islands?");
      await h.waitForReplies(1, 15_000);
      await h.ask("c1", "And to Madeira?");
      await h.waitForReplies(2, 15_000);
      // The first answer's tokens are over the user's day: the second question gets the limit's notice, no call.
      expect(h.replies.map((r) => [r.kind, r.text.startsWith("Answer")])).toEqual([["answer", true], ["notice", false]]);
      expect(calls).toBe(1);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("without any provider it still answers the FAQ and says honestly when it has no answer", async () => {
    h = await startHarness({ providers: false });
    await h.ask("c1", "pro plan price?");
    await h.ask("c2", "Do you sell gift cards?");
    const replies = await h.waitForReplies(2);
    expect(replies.find((r) => r.chatId === "c1")!.text).toBe("Pro is $29/month.");
    // No operator to tell: no person is promised, and the question counts as unanswered (the dashboard's "answered").
    expect(replies.find((r) => r.chatId === "c2")!.text).toBe("Sorry, I don't have an answer to that.");
    const text = h.agent.metrics.render();
    expect(text).toMatch(/aideazz_router_decisions_total\{outcome="answered",provider="faq",tier="faq"\} 1/);
    expect(text).toMatch(/aideazz_router_decisions_total\{outcome="unanswered",provider="none",tier="none"\} 1/);
  });
});

describe("orchestrator signals", () => {
  it("counts a provider not called (its quota spent) with the reason as the outcome", async () => {
    h = await startHarness({
      router: (groqUrl) => ({
        providers: {
          groq: {
            kind: "groq",
            baseUrl: groqUrl,
            model: "llama-3.1-8b-instant",
            apiKeyEnv: "GROQ_KEY",
            limits: { requestsPerMinute: 1 },
          },
        },
        chain: ["groq"],
        retry: { maxAttempts: 1 },
      }),
    });
    h.groq.script({ kind: "ok", text: "First." });
    await h.ask("c1", "Do you deliver to the Canary Islands?");
    await h.ask("c2", "Do you deliver to Madeira?");
    await h.waitForReplies(2, 15_000);
    const text = h.agent.metrics.render();
    expect(text).toMatch(/aideazz_provider_requests_total\{model="llama-3.1-8b-instant",outcome="ok",provider="groq"\} 1/);
    expect(text).toMatch(/aideazz_provider_requests_total\{model="llama-3.1-8b-instant",outcome="skipped_quota",provider="groq"\} [1-9]/);
  });

  it("counts provider attempts, tokens and decisions, and traces each attempt", async () => {
    h = await startHarness();
    h.groq.script({ kind: "server_error" }, { kind: "ok", text: "Recovered." });
    await h.ask("c1", "Do you deliver to the Canary Islands?");
    await h.waitForReplies(2, 15_000);
    const text = h.agent.metrics.render();
    expect(text).toMatch(/aideazz_provider_requests_total\{model="llama-3.1-8b-instant",outcome="error",provider="groq"\} 1/);
    expect(text).toMatch(/aideazz_provider_requests_total\{model="llama-3.1-8b-instant",outcome="ok",provider="groq"\} 1/);
    expect(text).toMatch(/aideazz_router_decisions_total\{outcome="answered",provider="groq",tier="simple"\} 1/);
    expect(text).toMatch(/aideazz_tokens_total\{direction="output",model="llama-3.1-8b-instant",provider="groq"\} [1-9]/);
    const stages = h.agent.tracer.peek().map((e) => e.stage);
    expect(stages.filter((s) => s === "provider")).toHaveLength(2);
    expect(stages).toEqual(expect.arrayContaining(["claimed", "cache", "route", "reply_queued"]));
  });
});
