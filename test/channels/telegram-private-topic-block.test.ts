// Telegram private-chat topics (Bot API 9.3; chats keyed `<user>/<topic>`, update.ts chatKeyOf) and the user's
// block: the block (`my_chat_member` kicked) is marked on `<user>`, so replies to the topics are skipped without a
// call; a topic marked by its own 403 (a reply that raced the block's update) is active again after the unblock
// (`my_chat_member` member). Real Telegram agent, fake Bot API.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { type Channel, startChannel, until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-for-topic-tests";
const SECRET = "topic_secret";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: SECRET };

let dir: string;
let cleanup: () => Promise<void>;
let fake: FakeTelegram;
let ch: Channel;
let db = 0;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-telegram-private-topic-")));
afterAll(() => cleanup());
beforeEach(async () => {
  fake = await startFakeTelegram({ token: TOKEN });
  ch = await startChannel({
    dir,
    dbFile: `topic-${++db}.db`,
    secrets,
    agent: {
      name: "tg",
      kind: "telegram",
      telegram: {
        tokenEnv: "TG_TOKEN",
        secretTokenEnv: "TG_SECRET",
        apiRoot: fake.apiRoot,
        pacing: { perChatMs: 100, perSecond: 30 },
      },
    },
  });
});
afterEach(async () => {
  await ch.stop();
  await fake.close();
});

let seq = 0;
const reply = (chatId: string, text: string): OutboundReply =>
  ({ agent: "tg", chatId, text, inReplyTo: [++seq], replyKey: `r${seq}`, kind: "answer" });
const publish = (...replies: OutboundReply[]) =>
  ch.bus.publish(replies.map((r) => ({
    topic: outboundTopic("tg"),
    key: chatKey("tg", r.chatId),
    payload: r as never,
    idempotencyKey: `test:${r.replyKey}`,
  })));
const webhook = (update: unknown) =>
  fetch(`${ch.url}/telegram/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
    body: JSON.stringify(update),
  });
/** User 25's `my_chat_member` update: "kicked" (blocked the bot) or "member" (unblocked it). */
const membership = (updateId: number, status: "kicked" | "member") => {
  const u = makeUpdate(telegramFixture("my-chat-member-kicked"), { updateId, chatId: 25 });
  const m = u["my_chat_member"] as Record<string, Record<string, unknown>>;
  m["old_chat_member"]!["status"] = status === "kicked" ? "member" : "kicked";
  m["new_chat_member"]!["status"] = status;
  return u;
};
const inactive = async () =>
  (await ch.rows("SELECT chat_id FROM channel_contacts WHERE inactive_at IS NOT NULL ORDER BY chat_id"))
    .map((r) => r["chat_id"]);
const sendsTo = (chatId: number) => fake.callsOf("sendMessage").filter((c) => c.body["chat_id"] === chatId).length;

describe("Telegram private-chat topics and the user's block", () => {
  it("after the user unblocks the bot, a reply to a topic that got its own 403 is sent, not skipped as inactive", async () => {
    // The user blocks the bot; a reply to their topic 7 goes out before the block's update arrives: 403.
    fake.blocked.add("25");
    await publish(reply("25/7", "the answer to your question in topic 7"));
    await until(async () => (await inactive()).includes("25/7"), 10_000, "the topic's 403");
    expect((await webhook(membership(9001, "kicked"))).status).toBe(200);
    await until(async () => (await inactive()).includes("25"), 10_000, "the block");
    expect(await inactive()).toEqual(["25", "25/7"]);

    // The user unblocks the bot. An operator then answers in topic 7.
    fake.blocked.delete("25");
    expect((await webhook(membership(9002, "member"))).status).toBe(200);
    await until(async () => (await inactive()).length === 0, 10_000, "the unblock");
    await publish(reply("25/7", "an operator's answer in topic 7"), reply("26", "marker"));
    await until(() => fake.sent.some((s) => s.text === "marker"), 10_000, "the marker");
    await new Promise((r) => setTimeout(r, 500)); // the topic's reply goes out ~at once (its own chat's pacing)
    expect({
      sent: fake.sent.map((s) => s.text).filter((t) => t !== "marker"),
      ledger: await ch.rows(`SELECT state, last_error FROM bus_send_ledger WHERE reply_key = 'r${seq - 1}#0'`),
    }).toEqual({ sent: ["an operator's answer in topic 7"], ledger: [{ state: "sent", last_error: null }] });
  }, 30_000);

  it("while the user's block is marked, a reply to one of their topics is skipped without a call to Telegram", async () => {
    fake.blocked.add("25");
    expect((await webhook(membership(9003, "kicked"))).status).toBe(200);
    await until(async () => (await inactive()).includes("25"), 10_000, "the block");
    await publish(reply("25/8", "an answer in topic 8"), reply("26", "marker"));
    await until(() => fake.sent.some((s) => s.text === "marker"), 10_000, "the marker");
    await new Promise((r) => setTimeout(r, 500));
    expect({
      calls: sendsTo(25),
      inactive: await inactive(),
      ledger: await ch.rows(`SELECT state, last_error FROM bus_send_ledger WHERE reply_key LIKE 'r${seq - 1}#%'`),
    }).toEqual({
      calls: 0,
      inactive: ["25"],
      ledger: [{ state: "failed", last_error: "contact inactive (blocked the bot)" }],
    });
  }, 30_000);
});
