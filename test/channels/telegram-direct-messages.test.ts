// A channel's direct messages chat (Bot API 9.2): a supergroup with `is_direct_messages`, where each user who writes
// to the channel has a topic of their own (`direct_messages_topic`). Bot admins of the channel get these messages as
// ordinary `message` updates; each user's topic is its own conversation (`<chat id>/dm<topic>`), and a reply names
// it with `direct_messages_topic_id` ("required if the message is sent to a direct messages chat", sendMessage).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { classifyUpdates } from "../../src/agents/telegram/classify.ts";
import { readUpdate } from "../../src/agents/telegram/update.ts";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type FakeTelegram, startFakeTelegram } from "../fakes/telegram.ts";
import { type Channel, startChannel, until } from "./harness.ts";
import { tempDir } from "../support/tmp.ts";

const DM_CHAT = -1002233445566;

/** A user's message in the channel's direct messages chat, as Telegram sends it. */
function dmUpdate(updateId: number, userId: number, name: string, text: string): Record<string, unknown> {
  const user = { id: userId, is_bot: false, first_name: name };
  return {
    update_id: updateId,
    message: {
      message_id: updateId,
      date: Math.floor(Date.now() / 1000),
      chat: { id: DM_CHAT, type: "supergroup", title: "Example Shop (messages)", is_direct_messages: true },
      from: user,
      direct_messages_topic: { topic_id: userId, user },
      text,
    },
  };
}

describe("telegram: a channel's direct messages chat", () => {
  it("two users writing to the channel are two conversations, not one", () => {
    const updates = [dmUpdate(1, 5001, "Ann", "Do you ship to Spain?"), dmUpdate(2, 5002, "Bob", "Is the shop open?")]
      .map((u) => readUpdate(u)!);
    const { batch } = classifyUpdates(updates, {
      agent: "tg",
      now: Date.now(),
      staleAfterMs: 3_600_000,
      nonText: "answer",
    });
    const chats = batch.inbound.map((i) => i.message.chatId);
    expect(chats).toHaveLength(2);
    // Today both are keyed by the DM chat's id: one conversation (history, burst, /reset) for every user.
    expect(chats[0]).not.toBe(chats[1]);
  });

  describe("end to end (webhook in, reply out)", () => {
    const TOKEN = "7111222333:AAH-fake-token-for-review-dm-0001";
    const SECRET = "review_dm_secret";
    let dir: string;
    let cleanup: () => Promise<void>;
    let fake: FakeTelegram;
    let ch: Channel;
    beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-rtg2-dm-")));
    afterAll(() => cleanup());
    beforeEach(async () => {
      fake = await startFakeTelegram({ token: TOKEN });
      ch = await startChannel({
        dir,
        dbFile: `dm-${Date.now()}.db`,
        secrets: { TG_TOKEN: TOKEN, TG_SECRET: SECRET },
        agent: {
          name: "tg",
          kind: "telegram",
          telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: fake.apiRoot },
        },
      });
    });
    afterEach(async () => {
      await ch.stop();
      await fake.close();
    });

    it("the answer to a user in the direct messages chat names their topic (direct_messages_topic_id)", async () => {
      const res = await fetch(`${ch.url}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
        body: JSON.stringify(dmUpdate(77, 5001, "Ann", "Do you ship to Spain?")),
      });
      expect(res.status).toBe(200);
      await until(async () => (await ch.inbound()).length === 1, 5_000, "the inbound message");
      const [inbound] = await ch.inbound();
      const chatId = String(inbound!["chatId"]);
      // The orchestrator answers on the chat key ingress gave the message.
      const reply: OutboundReply = { agent: "tg", chatId, text: "Yes, we ship to Spain.", inReplyTo: [1], replyKey: "dm1", kind: "answer" };
      await ch.bus.publish([{
        topic: outboundTopic("tg"),
        key: chatKey("tg", chatId),
        payload: reply as never,
        idempotencyKey: "review:dm1",
      }]);
      await until(() => fake.callsOf("sendMessage").length >= 1, 10_000, "the send");
      const body = fake.callsOf("sendMessage")[0]!.body;
      expect(body["chat_id"]).toBe(DM_CHAT);
      expect(body["direct_messages_topic_id"]).toBe(5001);
    });
  });
});
