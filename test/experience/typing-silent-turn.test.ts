// Telegram typing with its default `delayMs` (1 s): the chat action starts once a turn has been in flight for
// delayMs. A chat handed to a person (/human) gets no bot answer: the orchestrator marks each of its messages silent
// at once (before any quiet wait). The first action after the delay asks the chat inbox whether a message still
// waits, as the renewals do: the bot must not show "typing…" in a chat a person now answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../channels/harness.ts";
import { sleep } from "./harness.ts";
import { type Spine, startSpine } from "./spine.ts";

const OPERATOR_CHAT = 5990;

describe("telegram typing for a turn that ends in silence", () => {
  let h: Spine;
  beforeAll(async () => {
    h = await startSpine({
      roles: {
        support: {
          kind: "support",
          systemPrompt: "You are Example Co's support assistant.",
          operator: { agent: "tg", chatId: String(OPERATOR_CHAT) },
        },
      },
      tg: { role: "support" }, // typing: the defaults (delayMs 1000, refreshMs 4500)
    });
  }, 30_000);
  afterAll(async () => {
    await h?.close();
  });

  const actions = (chat: number) =>
    h.tg.callsOf("sendChatAction").filter((c) => c.body["chat_id"] === chat && c.body["action"] === "typing");
  const stateOf = async (updateId: number) =>
    (await h.rows("SELECT state FROM chat_inbox WHERE agent = 'tg' AND platform_id = ?", String(updateId)))[0]?.["state"];

  it("a message of a chat paused for a person gets no typing action from the bot", async () => {
    const chat = 5101;
    expect(await h.telegram(71, chat, "/human")).toBe(200);
    await until(() => h.tg.sent.some((s) => s.chatId === OPERATOR_CHAT), 15_000, "the handoff notice");
    await until(() => h.tg.sent.some((s) => s.chatId === chat), 15_000, "the user's handoff notice");
    await sleep(6_000); // any typing of the /human turn is over

    const before = actions(chat).length;
    const t0 = Date.now();
    expect(await h.telegram(72, chat, "hello? is anyone there?")).toBe(200);
    await until(async () => (await stateOf(72)) === "silent", 10_000, "the message silenced (forwarded)");
    const silencedBy = Date.now() - t0;
    await sleep(3_000); // past delayMs (1 s), before the first renewal (4.5 s)
    const typing = actions(chat).slice(before).map((c) => c.at - t0);
    expect(silencedBy).toBeLessThan(1_000); // over before the delay ended
    // Nothing is in flight when the delay ends: no "typing…" from the bot in a chat a person answers.
    expect({ typingActionsMsAfterMessage: typing }).toEqual({ typingActionsMsAfterMessage: [] });
  }, 60_000);
});
