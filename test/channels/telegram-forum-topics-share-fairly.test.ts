// A forum group's topics share its pace; a reply whose group slot is more than a gap off goes back to the bus until
// that slot without reserving it. So a topic with a backlog does not keep the group: other topics' replies are
// claimed again at their slot between its sends. Real agent, libSQL file, fake Bot API.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type FakeTelegram, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-for-topic-starvation";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: "topic_starvation_secret" };
const GROUP = "-1001234567892";

let dir: string;
let cleanup: () => Promise<void>;
let fake: FakeTelegram;
let ch: Channel;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-starve-")));
afterAll(() => cleanup());
beforeEach(async () => {
  fake = await startFakeTelegram({ token: TOKEN });
  ch = await startChannel({
    dir,
    dbFile: "starve.db",
    secrets,
    agent: {
      name: "tg",
      kind: "telegram",
      telegram: {
        tokenEnv: "TG_TOKEN",
        secretTokenEnv: "TG_SECRET",
        apiRoot: fake.apiRoot,
        pacing: { perChatMs: 1000, perGroupMs: 1200, perSecond: 30 },
        typing: { refreshMs: 1000, maxMs: 0 },
      },
    },
  });
});
afterEach(async () => {
  await ch?.stop();
  await fake.close();
});

let seq = 0;
const reply = (chatId: string, text: string): OutboundReply => ({
  agent: "tg",
  chatId,
  text,
  inReplyTo: [++seq],
  replyKey: `s${seq}`,
  kind: "answer",
});
const publish = (...replies: OutboundReply[]) =>
  ch.bus.publish(replies.map((r) => ({
    topic: outboundTopic("tg"),
    key: chatKey("tg", r.chatId),
    payload: r as never,
    idempotencyKey: `starve:${r.replyKey}`,
  })));

describe("topics of a busy forum group", () => {
  it("a topic with one reply is not kept waiting behind another topic's whole backlog", async () => {
    // Topic 10 has 8 answers owed (a burst of questions answered one by one) ...
    await publish(...Array.from({ length: 8 }, (_, i) => reply(`${GROUP}/10`, `topic 10 answer ${i}`)));
    await until(() => fake.sent.length >= 1, 10_000, "the first send");
    // ... and topics 20 and 30 one each, just after.
    await publish(reply(`${GROUP}/20`, "topic 20 answer"), reply(`${GROUP}/30`, "topic 30 answer"));
    await until(() => fake.sent.length >= 10, 40_000, "every reply");
    const order = fake.sent.map((s) => s.threadId ?? null);
    const position = (thread: number) => order.indexOf(thread);
    // Fair: each of the two is sent within a few of the group's slots, not after all of topic 10's.
    expect(order.filter((t) => t === 20 || t === 30)).toHaveLength(2);
    expect(Math.max(position(20), position(30)), `send order by topic: ${order.join(", ")}`).toBeLessThan(6);
  }, 60_000);
});
