// A bot command in a media caption addressed to another bot (`/help@other_bot` under a photo in a group) is that
// bot's, as in a text (core.telegram.org/bots/features#commands).
import { describe, expect, it } from "vitest";
import { classifyUpdates } from "../../src/agents/telegram/classify.ts";
import { readUpdate } from "../../src/agents/telegram/update.ts";
import { makeUpdate } from "../fakes/telegram.ts";
import { telegramFixture } from "../channels/fixtures.ts";

describe("caption commands for another bot", () => {
  it("a photo captioned /help@other_bot in a group is not taken as our /help", () => {
    const u = makeUpdate(telegramFixture("photo-caption"), { updateId: 61, chatId: -1005 }) as {
      message: Record<string, unknown>;
    };
    u.message["chat"] = { id: -1005, type: "supergroup", title: "G" };
    u.message["caption"] = "/help@other_bot";
    u.message["caption_entities"] = [{ type: "bot_command", offset: 0, length: 15 }];
    const { batch, typing } = classifyUpdates([readUpdate(u)!], {
      agent: "tg",
      now: Date.now(),
      staleAfterMs: 3600_000,
      nonText: "answer",
      botUsername: "example_bot",
    });
    expect(batch.inbound.map((i) => [i.message.kind, i.message.text])).toEqual([]);
    expect(typing).toEqual([]);
  });
});
