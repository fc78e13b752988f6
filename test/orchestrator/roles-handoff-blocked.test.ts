/**
 * An operator's /reply to a customer who blocked the bot: the Telegram and WhatsApp egress send nothing to an
 * inactive contact, so the operator is told it was not delivered, and the answer is not saved as said.
 */
import { afterEach, describe, expect, it } from "vitest";
import { markInactive } from "../../src/agents/channel/contacts.ts";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

/** The operator's bot serving customers too (the default role, with the operator). */
const startOperatorBot = () =>
  startRolesHarness({
    roles: {
      default: {
        kind: "support",
        systemPrompt: "You are Example Co's support bot. Be brief and friendly with every customer.",
        operator: OPERATOR,
      },
    },
    channels: {},
  });

describe("an operator's /reply to a customer who blocked the bot", () => {
  it("is answered 'Not delivered', not 'Sent', and is not in the chat's history", async () => {
    // The operator's bot serves customers too (the default role, with the operator): customer 555 on tg-ops.
    h = await startOperatorBot();
    await h.ask(OPERATOR.agent, "555", "/human");
    await h.waitForReplies(2);
    expect(await h.rows("SELECT state FROM handoffs WHERE chat = 'tg-ops:555'")).toMatchObject([{ state: "paused" }]);
    // Waiting for a person, the customer blocked the bot: Telegram's my_chat_member "kicked" update (or a send's 403)
    // marked the contact inactive (telegram/classify.ts, telegram/send.ts).
    const blocked = "Forbidden: bot was blocked by the user";
    await h.store.client.execute(markInactive(OPERATOR.agent, "555", blocked, Date.now()));

    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/reply 1 Sorry for the wait: your refund went out today.");
    await h.waitForReplies(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.replies.slice(2).map((r) => `${r.chatId} ${r.text}`)).toEqual([
      "777 Not delivered to #1 tg-ops:555: the user blocked the bot.",
    ]);
    expect(await h.rows("SELECT 1 FROM conversation_turns WHERE text LIKE 'Sorry for the wait%'")).toEqual([]);
  });
});

describe("an operator's /reply to a customer who blocked the bot in a private chat's topic", () => {
  it("is answered 'Not delivered' too: the block is marked on the user, and holds for the topics", async () => {
    h = await startOperatorBot();
    // Customer 555 writes in a topic of their private chat with the bot (Bot API 9.3: chat key `555/7`).
    await h.ask(OPERATOR.agent, "555/7", "/human");
    await h.waitForReplies(2);
    // Telegram's my_chat_member "kicked" marks the user, `555`, not each topic (telegram/classify.ts).
    await h.store.client.execute(markInactive(OPERATOR.agent, "555", "blocked the bot", Date.now()));

    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/reply 1 Sorry for the wait: your refund went out today.");
    await h.waitForReplies(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.replies.slice(2).map((r) => `${r.chatId} ${r.text}`)).toEqual([
      "777 Not delivered to #1 tg-ops:555/7: the user blocked the bot.",
    ]);
    expect(await h.rows("SELECT 1 FROM conversation_turns WHERE text LIKE 'Sorry for the wait%'")).toEqual([]);
  });
});
