// A streamed reply's partial skipped because its group's next slot is far off (another topic's 429) shows nothing:
// it must not stop the topic's "typing…", or the user sees neither text nor typing until the final reply.
// Real agent, libSQL file, fake Bot API.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { errors, type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until } from "./harness.ts";
import { telegramFixture } from "./fixtures.ts";

const TOKEN = "7111222333:AAH-fake-token-for-skipped-partial";
const SECRET = "skipped_partial_secret";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: SECRET };
const GROUP = -1001234567891;

let dir: string;
let cleanup: () => Promise<void>;
let fake: FakeTelegram;
let ch: Channel;
let db = 0;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-skipped-partial-")));
afterAll(() => cleanup());
beforeEach(async () => {
  fake = await startFakeTelegram({ token: TOKEN });
  ch = await startChannel({
    dir,
    dbFile: `skipped-partial-${++db}.db`,
    secrets,
    agent: {
      name: "tg",
      kind: "telegram",
      telegram: {
        tokenEnv: "TG_TOKEN",
        secretTokenEnv: "TG_SECRET",
        apiRoot: fake.apiRoot,
        pacing: { perChatMs: 1000, perGroupMs: 1000, perSecond: 30 },
        // Renewed every second, at once.
        typing: { refreshMs: 1_000, maxMs: 60_000, delayMs: 0 },
      },
      experience: { stream: { enabled: true } },
    },
  });
});
afterEach(async () => {
  await ch?.stop();
  await fake.close();
});

const publish = (r: OutboundReply) =>
  ch.bus.publish([{
    topic: outboundTopic("tg"),
    key: chatKey("tg", r.chatId),
    payload: r as never,
    idempotencyKey: `skip:${r.replyKey}:${r.partial ?? "final"}`,
  }]);

const inTopic = (updateId: number, thread: number, text: string) => {
  const u = makeUpdate(telegramFixture("text"), { updateId, chatId: GROUP, text });
  const m = (u as { message: Record<string, unknown> }).message;
  m["chat"] = { id: GROUP, type: "supergroup", title: "Support forum", is_forum: true };
  Object.assign(m, { message_thread_id: thread, is_topic_message: true });
  return u;
};

async function typingAfter(withPartial: boolean): Promise<number> {
  // Topic 10's reply meets a 429 retry_after 8: the whole group waits 8 s.
  fake.script("sendMessage", (call, i) => (String(call.body["chat_id"]) === String(GROUP) && i === 0 ? errors.tooManyRequests(8) : undefined));
  await publish({ agent: "tg", chatId: `${GROUP}/10`, text: "topic 10 answer", inReplyTo: [1], replyKey: "t10", kind: "answer" });
  await until(() => fake.callsOf("sendMessage").length >= 1, 10_000, "the group's 429");
  // A user asks in topic 20: "typing…" there.
  const res = await fetch(`${ch.url}/telegram/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
    body: JSON.stringify(inTopic(501, 20, "do you ship to Norway?")),
  });
  expect(res.status).toBe(200);
  const actions = () =>
    fake.callsOf("sendChatAction").filter((c) => String(c.body["chat_id"]) === String(GROUP) && c.body["message_thread_id"] === 20);
  await until(() => actions().length >= 1, 5_000, "typing in topic 20");
  // The model streams: its first partial comes while the group's slot is ~7 s off.
  if (withPartial) {
    await publish({
      agent: "tg",
      chatId: `${GROUP}/20`,
      text: "Yes, we ship to Nor",
      inReplyTo: [2],
      replyKey: "t20",
      kind: "answer",
      partial: 1,
      receivedAt: Date.now(),
    });
  }
  await new Promise((r) => setTimeout(r, 500));
  const t1 = Date.now();
  await new Promise((r) => setTimeout(r, 3_000));
  // Nothing of the reply is on screen yet ...
  const shown = fake.sent.filter((s) => s.threadId === 20).length + fake.edits.length;
  expect(shown).toBe(0);
  // ... so "typing…" must go on (a renewal a second).
  return actions().filter((c) => c.at > t1).length;
}

describe("a streamed reply's partial skipped for its group's slot", () => {
  it("without a partial, typing in the topic is renewed while the group waits", async () => {
    expect(await typingAfter(false)).toBeGreaterThanOrEqual(2);
  }, 40_000);

  it("keeps the topic's typing indicator on while nothing of the reply is shown", async () => {
    const after = await typingAfter(true);
    expect(after, `typing actions in topic 20 in the 3 s after its partial was skipped (nothing shown)`)
      .toBeGreaterThanOrEqual(2);
  }, 40_000);
});
