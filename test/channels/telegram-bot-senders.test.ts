// A message another bot wrote in a group (bot-to-bot replies, core.telegram.org/api/bots/bot-to-bot) is recorded,
// not answered: two AI bots would answer each other for ever, each turn a model call. Anonymous admins and channels
// also come with is_bot: true, but with `sender_chat`: people, still answered (test/channels/classify.test.ts).
import { describe, expect, it } from "vitest";
import { classifyUpdates } from "../../src/agents/telegram/classify.ts";
import { readUpdate } from "../../src/agents/telegram/update.ts";
import { makeUpdate } from "../fakes/telegram.ts";
import { telegramFixture } from "../channels/fixtures.ts";

describe("messages from other bots", () => {
  it("a group message whose sender is another bot (is_bot, no sender_chat) is recorded, not published", () => {
    const u = makeUpdate(telegramFixture("text"), { updateId: 71, chatId: -1007, text: "Sure! And what else can you do?" }) as {
      message: Record<string, unknown>;
    };
    u.message["chat"] = { id: -1007, type: "supergroup", title: "G" };
    u.message["from"] = { id: 6000000001, is_bot: true, first_name: "Other AI", username: "other_ai_bot" };
    u.message["reply_to_message"] = {
      message_id: 5,
      date: 1,
      chat: { id: -1007, type: "supergroup" },
      from: { id: 7111222333, is_bot: true, first_name: "Example bot", username: "example_bot" },
      text: "Hello! How can I help?",
    };
    const { batch, typing } = classifyUpdates([readUpdate(u)!], {
      agent: "tg",
      now: Date.now(),
      staleAfterMs: 3600_000,
      nonText: "answer",
      botUsername: "example_bot",
    });
    expect(batch.inbound).toEqual([]);
    expect(typing).toEqual([]);
  });
});
