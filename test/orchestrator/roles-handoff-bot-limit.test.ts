// The user's /bot is answered by the handoff flow (resumedText) in every chat once some role has an operator,
// paused or not: it counts against the user's rate limit like any other message, or a user could make the bot send
// without limit.
import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("/bot and the per-user rate limit", () => {
  it("a flood of /bot in a chat that was never handed off is limited like any other command", async () => {
    h = await startRolesHarness({
      roles: { support: { kind: "support", systemPrompt: "You are Example Co's support bot.", operator: OPERATOR } },
      channels: { web: "support" },
      conversation: { perUserPerMinute: 2 },
    });
    // Control: /help (another command) over the limit gets two answers and one notice.
    for (let i = 0; i < 6; i++) await h.ask("web", "c-help", "/help");
    await h.waitForReplies(3);
    await sleep(1_000);
    const help = h.replies.filter((r) => r.chatId === "c-help").length;
    for (let i = 0; i < 6; i++) await h.ask("web", "c-bot", "/bot");
    await h.waitForReplies(help + 3);
    await sleep(1_000);
    const bot = h.replies.filter((r) => r.chatId === "c-bot").map((r) => r.text);
    expect({ help, bot: bot.length }).toEqual({ help: 3, bot: 3 });
  }, 30_000);
});
