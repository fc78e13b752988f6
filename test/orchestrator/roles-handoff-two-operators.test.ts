/** Two roles with two operator chats on one bot: a handoff number or chat key reaches only its operator's chat. */
import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

describe("two operators on one Telegram bot", () => {
  it("a /reply or /resume with the other operator's handoff number or lead's chat key reaches nobody", async () => {
    h = await startRolesHarness({
      roles: {
        support: { kind: "support", systemPrompt: "You are Example Co's support bot.", operator: OPERATOR },
        sales: {
          kind: "leads",
          systemPrompt: "You are Example Co's sales bot.",
          operator: { agent: OPERATOR.agent, chatId: "888" },
        },
      },
      channels: { web: "support", shop: "sales" },
    });
    await h.ask("web", "c1", "/human");
    await h.waitForReplies(2);
    await h.ask("shop", "c2", "/human");
    await h.waitForReplies(4);
    expect(h.replies.find((r) => r.chatId === "888")!.text).toMatch(/^Handoff #2 from shop:c2/);
    await h.ask(OPERATOR.agent, "888", "/reply 1 hello from sales");
    await h.ask(OPERATOR.agent, "888", "/resume 1");
    // A chat key reaches a lead's chat never handed off (the qualified lead's notice names it): only its operator's.
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/reply shop:c2 hello from support");
    await h.waitForReplies(7);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.replies.slice(4).map((r) => `${r.agent}:${r.chatId} ${r.text.split(".")[0]}`).sort()).toEqual([
      'tg-ops:777 No handoff "shop:c2" for this chat',
      'tg-ops:888 No handoff "1" for this chat',
      'tg-ops:888 No handoff "1" for this chat',
    ]);
    expect(await h.rows("SELECT 1 FROM leads WHERE chat = 'shop:c2'")).toHaveLength(1);
    expect(await h.rows("SELECT state FROM handoffs WHERE chat = 'web:c1'")).toMatchObject([{ state: "paused" }]);
  });
});
