// A forum group's topics are separate bus keys but share the group's pace and back-off. A topic whose group slot is
// further off than a gap goes back to the bus instead of waiting in a consumer slot, so a busy forum (more topics
// than the 32 slots) or its 429 does not hold up a private chat's reply. Real agent, libSQL file, fake Bot API.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { errors, type FakeTelegram, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-for-forum-pacing-test";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: "forum_pacing_secret" };
const GROUP = "-1001234567890";

let dir: string;
let cleanup: () => Promise<void>;
let fake: FakeTelegram;
let ch: Channel;
let db = 0;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-forum-")));
afterAll(() => cleanup());
const tgAgent = (perGroupMs: number, stream = false) => ({
  name: "tg",
  kind: "telegram",
  telegram: {
    tokenEnv: "TG_TOKEN",
    secretTokenEnv: "TG_SECRET",
    apiRoot: fake.apiRoot,
    pacing: { perChatMs: 1000, perGroupMs, perSecond: 30 },
    typing: { refreshMs: 1000, maxMs: 0 },
  },
  experience: { stream: { enabled: stream } },
});
beforeEach(async () => {
  fake = await startFakeTelegram({ token: TOKEN });
});
afterEach(async () => {
  await ch?.stop();
  await fake.close();
});

let seq = 0;
const reply = (chatId: string, text: string, extra: Partial<OutboundReply> = {}): OutboundReply => ({
  agent: "tg",
  chatId,
  text,
  inReplyTo: [++seq],
  replyKey: `r${seq}`,
  kind: "answer",
  ...extra,
});
const publish = (...replies: OutboundReply[]) =>
  ch.bus.publish(replies.map((r) => ({
    topic: outboundTopic("tg"),
    key: chatKey("tg", r.chatId),
    payload: r as never,
    idempotencyKey: `forum:${r.replyKey}:${Math.random()}`,
  })));

describe("a forum group's topics do not hold every egress slot", () => {
  it("a private chat's reply is not held up behind 44 forum topics waiting for their group's pace", async () => {
    ch = await startChannel({ dir, dbFile: `forum-${db++}.db`, secrets, agent: tgAgent(300) });
    // A busy forum: 44 topics each get an answer.
    await publish(...Array.from({ length: 44 }, (_, i) => reply(`${GROUP}/${i + 10}`, `topic answer ${i}`)));
    await until(() => fake.sent.length >= 1, 10_000, "the forum's first send");
    // Nothing holds a private chat's reply: its chat is idle, the bot far below 30/s.
    const t0 = Date.now();
    await publish(reply("424242", "your private answer"));
    await until(() => fake.sent.some((m) => m.chatId === 424242), 30_000, "the private reply");
    const waited = fake.sent.find((m) => m.chatId === 424242)!.at - t0;
    // The group's own sends keep its pace (300 ms here).
    const groupTimes = fake.sent.filter((m) => String(m.chatId) === GROUP).map((m) => m.at);
    for (let i = 1; i < groupTimes.length; i++) expect(groupTimes[i]! - groupTimes[i - 1]!).toBeGreaterThanOrEqual(250); // arrival jitter (a ledger write before each call)
    expect(waited, `the private reply waited ${waited} ms behind the forum's topics`).toBeLessThan(1_000);
  }, 60_000);

  it("streamed replies' final edits in 40 forum topics do not hold up a private chat's reply", async () => {
    ch = await startChannel({ dir, dbFile: `forum-${db++}.db`, secrets, agent: tgAgent(300, true) });
    // Each topic's answer was streamed: its partial is on screen (posted three at a time, within a second of pace).
    const topics = Array.from({ length: 40 }, (_, i) => `${GROUP}/${i + 10}`);
    const partials = topics.map((t) => reply(t, "Let me check th", { partial: 1 }));
    for (let i = 0; i < partials.length; i += 3) {
      await publish(...partials.slice(i, i + 3));
      await until(() => fake.sent.length >= Math.min(i + 3, partials.length), 10_000, "the partials posted");
    }
    // Every final text at once: 40 edits at the group's pace, more than the 32 egress slots.
    await publish(...partials.map((p) => ({ ...p, text: "Let me check that: yes, we open at 9.", partial: undefined, streamed: true })));
    await until(() => fake.edits.length >= 1, 10_000, "the first final edit");
    const t0 = Date.now();
    await publish(reply("454545", "your private answer"));
    await until(() => fake.sent.some((m) => m.chatId === 454545), 30_000, "the private reply");
    const waited = fake.sent.find((m) => m.chatId === 454545)!.at - t0;
    expect(waited, `the private reply waited ${waited} ms behind the forum's final edits`).toBeLessThan(1_000);
    // Every topic still gets its final text, once.
    await until(() => fake.edits.length >= topics.length, 30_000, "every final edit");
    expect(new Set(fake.edits.map((e) => e.messageId)).size).toBe(topics.length);
  }, 90_000);

  it("a 429 retry_after for a forum group does not stall a private chat's reply", async () => {
    ch = await startChannel({ dir, dbFile: `forum-${db++}.db`, secrets, agent: tgAgent(100) });
    // The group's first send is answered 429 retry_after 6: all its topics wait 6 s.
    fake.script("sendMessage", (call, i) => (String(call.body["chat_id"]) === GROUP && i === 0 ? errors.tooManyRequests(6) : undefined));
    await publish(...Array.from({ length: 40 }, (_, i) => reply(`${GROUP}/${i + 10}`, `topic answer ${i}`)));
    await until(() => fake.callsOf("sendMessage").length >= 1, 10_000, "the group's 429");
    const t0 = Date.now();
    await publish(reply("434343", "your private answer"));
    await until(() => fake.sent.some((m) => m.chatId === 434343), 30_000, "the private reply");
    const waited = fake.sent.find((m) => m.chatId === 434343)!.at - t0;
    expect(waited, `the private reply waited ${waited} ms for another chat's retry_after`).toBeLessThan(1_000);
  }, 60_000);
});
