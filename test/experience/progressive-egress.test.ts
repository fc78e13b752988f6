// Progressive replies, the channel's half, with the real Telegram and WhatsApp agents against the fake platform
// servers; the test publishes the orchestrator's partial and final replies itself. A reply longer than 4,096
// characters continues in follow-up messages at paragraph boundaries; a new process (a restart) edits the message
// the previous one posted, found through the send ledger; stale partials and channels that cannot edit are handled.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type FakeGraph, startFakeGraph } from "../fakes/graph.ts";
import { errors, type FakeTelegram, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until, whatsappAgent } from "../channels/harness.ts";
import { PNID, SECRETS, sleep } from "./harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
let db = 0;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-prog-")));
afterAll(() => cleanup());

const reply = (
  agent: string,
  chatId: string,
  replyKey: string,
  text: string,
  extra: Partial<OutboundReply> = {},
) => ({ agent, chatId, text, inReplyTo: [1], replyKey, kind: "answer", ...extra }) as OutboundReply;

let seq = 0;
const publish = (ch: Channel, r: OutboundReply) =>
  ch.bus.publish([{
    topic: outboundTopic(r.agent),
    key: chatKey(r.agent, r.chatId),
    payload: r as never,
    idempotencyKey: `test:${r.replyKey}:${++seq}`,
  }]);

describe("telegram: partial and streamed replies", () => {
  let fake: FakeTelegram;
  let ch: Channel;
  let dbFile: string;
  const start = () =>
    startChannel({
      dir,
      dbFile,
      secrets: SECRETS,
      agent: {
        name: "tg",
        kind: "telegram",
        telegram: {
          tokenEnv: "TG_TOKEN",
          secretTokenEnv: "TG_SECRET",
          apiRoot: fake.apiRoot,
          pacing: { perChatMs: 1_000, perSecond: 30 },
        },
      },
    });
  beforeEach(async () => {
    fake = await startFakeTelegram({ token: SECRETS.TG_TOKEN });
    dbFile = `tg-${db++}.db`;
    ch = await start();
  });
  afterEach(async () => {
    await ch.stop();
    await fake.close();
  });

  it(
    "a reply growing past 4,096 characters continues in follow-up messages at paragraph boundaries",
    async () => {
      const p = [1, 2, 3].map((n) => `Paragraph ${n}. ${"word ".repeat(500)}`.trim());
      await publish(ch, reply("tg", "41", "long", "Paragraph 1.", { partial: 1 }));
      await until(() => fake.sent.length === 1, 10_000, "the first part");
      await sleep(1_100);
      await publish(ch, reply("tg", "41", "long", `${p[0]}\n\n${p[1]!.slice(0, 1_200)}`, { partial: 2 }));
      await until(() => fake.edits.length === 1, 10_000, "an edit");
      await sleep(1_100);
      await publish(
        ch,
        reply("tg", "41", "long", `${p[0]}\n\n${p[1]}\n\n${p[2]!.slice(0, 900)}`, { partial: 3 }),
      );
      await until(() => fake.sent.length === 2, 10_000, "the follow-up message");
      await publish(ch, reply("tg", "41", "long", p.join("\n\n"), { streamed: true }));
      await until(() => fake.sent.length === 3 && fake.sent[1]!.text === p[1], 15_000, "the final parts");
      await sleep(1_200);
      expect(fake.sent.map((s) => s.text)).toEqual(p);
      expect(fake.sent.every((s) => s.text.length <= 4096)).toBe(true);
      expect(fake.sent[0]!.history).toEqual(["Paragraph 1.", `${p[0]}\n\n${p[1]!.slice(0, 1_200)}`, p[0]]);
      // Edits of one message are at least a second apart.
      for (const m of fake.sent) {
        for (let i = 1; i < m.historyAt.length; i++) {
          expect(m.historyAt[i]! - m.historyAt[i - 1]!)
            .toBeGreaterThanOrEqual(950);
        }
      }
    },
    60_000,
  );

  it("a final reply shorter than its partials deletes the messages it no longer has, once, also on a redelivery", async () => {
    const long = `First paragraph. ${"word ".repeat(700)}`.trim();
    const rest = `Second paragraph. ${"more ".repeat(700)}`.trim();
    await publish(ch, reply("tg", "44", "shorter", `${long}\n\n${rest}`, { partial: 1 }));
    await until(() => fake.sent.length === 2, 10_000, "two partial messages");
    // The reply review replaced the answer: one short message.
    await publish(ch, reply("tg", "44", "shorter", "Sorry, I can't help with that.", { streamed: true }));
    await until(() => fake.callsOf("deleteMessage").length === 1, 10_000, "the deletion");
    expect(fake.sent.map((s) => [s.text, s.deleted === true])).toEqual([
      ["Sorry, I can't help with that.", false],
      [`${long}\n\n${rest}`.slice(long.length + 2), true],
    ]);
    // A redelivery of the final (a crash after the deletion): already gone counts as deleted; nothing else changes.
    await ch.stop();
    ch = await start();
    await publish(ch, reply("tg", "44", "shorter", "Sorry, I can't help with that.", { streamed: true }));
    await publish(ch, reply("tg", "44", "next", "marker"));
    await until(() => fake.sent.length === 3, 10_000, "the marker");
    expect(fake.callsOf("deleteMessage")).toHaveLength(2);
    expect(fake.sent.filter((s) => !s.deleted).map((s) => s.text)).toEqual(["Sorry, I can't help with that.", "marker"]);
  }, 40_000);

  it("a partial part whose post met a 429 holds back the parts after it: the final reads in order", async () => {
    const para = (n: number) => `Paragraph ${n}. ${"word ".repeat(700)}`.trim();
    const text = [1, 2, 3].map(para).join("\n\n");
    fake.script("sendMessage", (_call, i) => (i === 1 ? errors.tooManyRequests(1) : undefined));
    await publish(ch, reply("tg", "46", "order", text, { partial: 1 }));
    await until(() => fake.callsOf("sendMessage").length >= 2, 15_000, "part 1 posted, part 2 refused");
    await sleep(1_500); // part 3 is not posted above the missing part 2
    expect(fake.sent.map((m) => m.text)).toEqual([para(1)]);
    await publish(ch, reply("tg", "46", "order", text, { streamed: true }));
    await until(() => fake.sent.length >= 3, 20_000, "the final's parts");
    // Top to bottom as Telegram lists them (by message id).
    expect(fake.sent.filter((m) => !m.deleted).sort((a, b) => a.messageId - b.messageId).map((m) => m.text))
      .toEqual([para(1), para(2), para(3)]);
  }, 60_000);

  it("a user who blocked the bot mid-stream: the final edit's 403 marks the contact inactive, nothing is posted anew", async () => {
    await publish(ch, reply("tg", "45", "blocked", "The first sentence.", { partial: 1 }));
    await until(() => fake.sent.length === 1, 10_000, "the partial");
    fake.blocked.add("45");
    await publish(ch, reply("tg", "45", "blocked", "The first sentence. And the rest.", { streamed: true }));
    await until(
      async () => (await ch.count("SELECT count(*) FROM channel_contacts WHERE chat_id = '45' AND inactive_at IS NOT NULL")) === 1,
      10_000,
      "the contact marked inactive",
    );
    await sleep(500);
    expect(fake.callsOf("sendMessage")).toHaveLength(1);
  }, 30_000);

  it("partials a second apart are each shown though every post and edit takes 400 ms (the interval counts from its start)", async () => {
    fake.delay("sendMessage", () => 400);
    fake.delay("editMessageText", () => 400);
    const texts = ["One.", "One. Two.", "One. Two. Three.", "One. Two. Three. Four."];
    for (const [i, text] of texts.entries()) {
      await publish(ch, reply("tg", "43", "slow", text, { partial: i + 1 }));
      await sleep(1_050); // the orchestrator publishes one a second
    }
    await until(() => fake.sent[0]?.text === texts.at(-1), 10_000, "the last partial shown");
    expect(fake.sent[0]!.history).toEqual(texts); // every one, none skipped
  }, 30_000);

  it(
    "after a restart the final reply edits the message the previous process posted (send ledger), no second message",
    async () => {
      await publish(ch, reply("tg", "42", "restart", "The first sentence.", { partial: 1 }));
      await until(() => fake.sent.length === 1, 10_000, "the partial");
      await ch.stop();
      ch = await start(); // a new process: nothing in memory, only the store
      await publish(
        ch,
        reply("tg", "42", "restart", "The first sentence. And the whole answer.", { streamed: true }),
      );
      await until(() => fake.edits.length === 1, 10_000, "the edit");
      await sleep(1_200);
      expect(fake.sent.map((s) => s.text)).toEqual(["The first sentence. And the whole answer."]);
      expect(fake.callsOf("sendMessage")).toHaveLength(1);
      // Posted by a partial (an unknown outcome of that post would make the final send its text anew).
      expect(await ch.rows("SELECT reply_key, state, partial FROM bus_send_ledger WHERE reply_key LIKE 'restart#%'"))
        .toEqual([{ reply_key: "restart#0", state: "sent", partial: 1 }]);
    },
    30_000,
  );

  it("the final text already showing is not edited again; a partial after the final is ignored", async () => {
    await publish(ch, reply("tg", "43", "same", "Short and complete answer.", { partial: 1 }));
    await until(() => fake.sent.length === 1, 10_000, "the partial");
    await publish(ch, reply("tg", "43", "same", "Short and complete answer.", { streamed: true }));
    await publish(ch, reply("tg", "43", "same", "Short and", { partial: 2 }));
    await publish(ch, reply("tg", "43", "next", "marker"));
    await until(() => fake.sent.length === 2, 10_000, "the marker");
    expect(fake.callsOf("editMessageText")).toHaveLength(0);
    expect(fake.sent.map((s) => s.text)).toEqual(["Short and complete answer.", "marker"]);
  }, 30_000);

  it("a group upgraded to a supergroup before the first part: the message and its edits are in the supergroup, once", async () => {
    const SUPERGROUP = -1001234567890;
    for (const method of ["sendMessage", "editMessageText"]) {
      fake.script(method, (call) => (call.body["chat_id"] === -4567 ? errors.migrated(SUPERGROUP) : undefined));
    }
    await publish(ch, reply("tg", "-4567", "moved", "The first sentence.", { partial: 1 }));
    await until(() => fake.sent.length === 1, 10_000, "the partial");
    await publish(ch, reply("tg", "-4567", "moved", "The first sentence. And the whole answer.", { streamed: true }));
    await until(() => fake.edits.length === 1, 10_000, "the edit");
    await sleep(1_200);
    expect(fake.sent.map((s) => [s.chatId, s.text])).toEqual([[SUPERGROUP, "The first sentence. And the whole answer."]]);
    // The ledger says where the message is: its edits go straight to the supergroup.
    expect(fake.callsOf("editMessageText").map((c) => c.body["chat_id"])).toEqual([SUPERGROUP]);
    expect(await ch.rows("SELECT state, platform_id FROM bus_send_ledger WHERE reply_key LIKE 'moved#%'"))
      .toEqual([{ state: "sent", platform_id: `${SUPERGROUP}:${fake.sent[0]!.messageId}` }]);
  }, 30_000);

  it("a group upgraded after the first part was posted in it: the whole answer is posted in the supergroup", async () => {
    const SUPERGROUP = -1009876543210;
    await publish(ch, reply("tg", "-4568", "upgraded", "The first sentence.", { partial: 1 }));
    await until(() => fake.sent.length === 1, 10_000, "the partial");
    for (const method of ["sendMessage", "editMessageText"]) {
      fake.script(method, (call) => (call.body["chat_id"] === -4568 ? errors.migrated(SUPERGROUP) : undefined));
    }
    await publish(ch, reply("tg", "-4568", "upgraded", "The first sentence. And the whole answer.", { streamed: true }));
    await until(() => fake.sent.length === 2, 10_000, "the final text posted");
    await sleep(1_200);
    // The group's message is not the supergroup's: no edit is tried there with the group's message id.
    expect(fake.sent.map((s) => [s.chatId, s.text])).toEqual([
      [-4568, "The first sentence."],
      [SUPERGROUP, "The first sentence. And the whole answer."],
    ]);
    expect(fake.callsOf("editMessageText").map((c) => c.body["chat_id"])).toEqual([-4568]);
  }, 30_000);

  /** Every edit fails as for a message the user deleted. */
  const editsFail = () =>
    fake.script("editMessageText", () => ({
      status: 400,
      body: { ok: false, error_code: 400, description: "Bad Request: message to edit not found" },
    }));

  // A process killed between a platform call and its record leaves an intent without outcome; 60 s later the
  // final reply decides by who made it. (The soak of 3b78dd3 saw a FAQ answer twice: every Telegram answer is
  // `streamed`, and a final's own unknown send was sent again.)
  const staleIntent = (key: string, partial: 0 | 1) =>
    ch.rows(
      "INSERT INTO bus_send_ledger (reply_key, state, fence, attempts, started_at, partial) VALUES (?, 'sending', 1, 1, ?, ?)",
      key,
      Date.now() - 120_000,
      partial,
    );

  it("a streamed final whose own earlier send has an unknown outcome is not sent again", async () => {
    await staleIntent("final-unknown#0", 0);
    await publish(ch, reply("tg", "45", "final-unknown", "The whole answer.", { streamed: true }));
    await publish(ch, reply("tg", "45", "next", "marker"));
    await until(() => fake.sent.length === 1, 10_000, "the marker");
    expect(fake.sent.map((s) => s.text)).toEqual(["marker"]);
    expect(ch.logs.some((l) => l.includes("send outcome unknown") && l.includes("final-unknown#0"))).toBe(true);
  }, 30_000);

  it("a streamed final whose partial post has an unknown outcome is sent as a new message", async () => {
    await staleIntent("partial-unknown#0", 1);
    await publish(ch, reply("tg", "46", "partial-unknown", "The whole answer.", { streamed: true }));
    await until(() => fake.sent.length === 1, 10_000, "the final text");
    expect(fake.sent.map((s) => s.text)).toEqual(["The whole answer."]);
    expect(await ch.rows("SELECT state, partial FROM bus_send_ledger WHERE reply_key = 'partial-unknown#0'"))
      .toEqual([{ state: "sent", partial: 0 }]);
  }, 30_000);

  it("a message that cannot be edited any more gets the final text as a new message", async () => {
    editsFail();
    await publish(ch, reply("tg", "44", "gone", "Partial text", { partial: 1 }));
    await until(() => fake.sent.length === 1, 10_000, "the partial");
    await publish(ch, reply("tg", "44", "gone", "Partial text and the rest.", { streamed: true }));
    await until(() => fake.sent.length === 2, 10_000, "the final text");
    expect(fake.sent.map((s) => s.text)).toEqual(["Partial text", "Partial text and the rest."]);
    const id = String(fake.sent[1]!.messageId);
    // The channel records the repost after Telegram answered it: the fake saw the send first.
    const ledger = () => ch.rows("SELECT reply_key, state, platform_id FROM bus_send_ledger WHERE reply_key LIKE 'gone#%'");
    const recorded = [
      { reply_key: "gone#0", state: "sent", platform_id: id },
      { reply_key: "gone#0:repost", state: "sent", platform_id: id },
    ];
    await until(async () => JSON.stringify(await ledger()) === JSON.stringify(recorded), 10_000, "the repost recorded");
    expect(await ledger()).toEqual(recorded);
  }, 30_000);

  it("a partial's 429 holds the chat for its retry_after: the final is not sent into it, and the error counts", async () => {
    fake.script("sendMessage", (_call, index) => (index === 0 ? errors.tooManyRequests(2) : undefined));
    await publish(ch, reply("tg", "49", "held", "Partial text", { partial: 1 }));
    await until(() => fake.callsOf("sendMessage").length === 1, 10_000, "the partial's 429");
    await publish(ch, reply("tg", "49", "held", "Partial text and the rest.", { streamed: true }));
    await until(() => fake.sent.length === 1, 20_000, "the final text");
    const [refused, final] = fake.callsOf("sendMessage");
    expect(final!.at - refused!.at).toBeGreaterThanOrEqual(1_950);
    expect(fake.callsOf("sendMessage")).toHaveLength(2); // no second 429
    expect(fake.sent.map((s) => s.text)).toEqual(["Partial text and the rest."]);
    const metrics = await (await fetch(`${ch.url}/metrics`)).text();
    expect(metrics).toMatch(/aideazz_send_errors_total\{[^}]*code="429"[^}]*\} 1/);
  }, 30_000);

  it("a final text sent anew that meets a 429 is sent on the bus's retry, not dropped", async () => {
    editsFail();
    fake.script("sendMessage", (_call, index) => (index === 1 ? errors.tooManyRequests(1) : undefined));
    await publish(ch, reply("tg", "48", "gone3", "Partial text", { partial: 1 }));
    await until(() => fake.sent.length === 1, 10_000, "the partial");
    await publish(ch, reply("tg", "48", "gone3", "Partial text and the rest.", { streamed: true }));
    await until(() => fake.sent.length === 2, 20_000, "the final text, on the retry");
    expect(fake.sent.map((s) => s.text)).toEqual(["Partial text", "Partial text and the rest."]);
    expect(fake.callsOf("sendMessage")).toHaveLength(3); // the partial, the 429, the retry
  }, 30_000);

  it("the final text goes out anew at most once: a repost whose outcome is unknown is not sent again", async () => {
    editsFail();
    await publish(ch, reply("tg", "47", "gone2", "Partial text", { partial: 1 }));
    await until(() => fake.sent.length === 1, 10_000, "the partial");
    await staleIntent("gone2#0:repost", 0); // a process that sent it anew was killed before recording it
    await publish(ch, reply("tg", "47", "gone2", "Partial text and the rest.", { streamed: true }));
    await publish(ch, reply("tg", "47", "next", "marker"));
    await until(() => fake.sent.length === 2, 10_000, "the marker");
    expect(fake.sent.map((s) => s.text)).toEqual(["Partial text", "marker"]);
    expect(fake.callsOf("editMessageText")).toHaveLength(1);
    expect(ch.logs.some((l) => l.includes("send outcome unknown") && l.includes("gone2#0:repost"))).toBe(true);
  }, 30_000);
});

describe("whatsapp: cannot edit", () => {
  let graph: FakeGraph;
  let ch: Channel;
  beforeEach(async () => {
    graph = await startFakeGraph({ accessToken: SECRETS.WA_TOKEN });
    ch = await startChannel({
      dir,
      dbFile: `wa-${db++}.db`,
      secrets: SECRETS,
      agent: whatsappAgent({
        phoneNumberId: PNID,
        graphBaseUrl: graph.baseUrl,
        whatsapp: { pacing: { perUserMs: 100, perSecond: 80 } },
      }),
    });
    // The user wrote just now: the 24-hour window is open.
    await ch.rows(
      "INSERT INTO channel_contacts (agent, chat_id, last_inbound_at, updated_at) VALUES ('wa', '15550001111', ?, ?)",
      Date.now(),
      Date.now(),
    );
  });
  afterEach(async () => {
    await ch.stop();
    await graph.close();
  });

  it("ignores partial replies and sends the final one once", async () => {
    await publish(ch, reply("wa", "15550001111", "wa-r", "The first", { partial: 1 }));
    await publish(
      ch,
      reply("wa", "15550001111", "wa-r", "The first sentence. The rest.", { streamed: true }),
    );
    await until(() => graph.sent.length === 1, 10_000, "the final reply");
    await sleep(500);
    expect(graph.sent.map((s) => s.text)).toEqual(["The first sentence. The rest."]);
  }, 30_000);
});
