/**
 * A paused chat across a config change and restart: the agent's role renamed, the agent moved to another role, a
 * role's operator removed. README "Roles": "A paused chat belongs to its role's operator as configured now".
 */
import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const PROMPT = "You are Example Co's support bot. Be brief and friendly with every customer.";
const toOps = (chatId: string) => h.replies.filter((r) => r.agent === OPERATOR.agent && r.chatId === chatId);

describe("handoff across a config change", () => {
  it("re-handed off after the agent moved to another role: the new operator can /reply and gets the forwards", async () => {
    const roles = {
      support: { kind: "support", systemPrompt: PROMPT, operator: OPERATOR },
      sales: { kind: "support", systemPrompt: `${PROMPT} Sales.`, operator: { agent: OPERATOR.agent, chatId: "888" } },
    };
    h = await startRolesHarness({ roles, channels: { web: "support" } });
    await h.ask("web", "c1", "/human");
    await h.waitForReplies(2);
    await h.ask(OPERATOR.agent, "777", "/resume 1");
    await h.waitForReplies(4);
    expect(await h.rows("SELECT state, role FROM handoffs")).toMatchObject([{ state: "active", role: "support" }]);

    // The business moves the web chat to the sales role (its operator chat is 888) and restarts.
    await h.restart({ roles, channels: { web: "sales" } });
    await h.ask("web", "c1", "/human");
    await h.waitForReplies(6);
    expect(toOps("888").at(-1)!.text).toMatch(/^Handoff #1 from web:c1/); // the notice goes to sales' operator
    const n = h.replies.length;

    // The customer writes while paused, and sales' operator answers as the notice says.
    await h.ask("web", "c1", "Hello? Anyone from sales?");
    await h.ask(OPERATOR.agent, "888", "/reply 1 Hi, this is Bea from sales.");
    await h.waitForReplies(n + 2);
    await new Promise((r) => setTimeout(r, 700));
    const after = h.replies.slice(n).map((r) => `${r.agent}:${r.chatId} <- ${r.text.split("\n")[0]}`).sort();
    expect(after).toEqual([
      "tg-ops:888 <- #1 web:c1: Hello? Anyone from sales?",
      "tg-ops:888 <- Sent to #1 web:c1.",
      "web:c1 <- Hi, this is Bea from sales.",
    ]);
  });

  it("a chat paused before its role was renamed (same operator chat) can still be listed, answered and resumed", async () => {
        h = await startRolesHarness({
      roles: { support: { kind: "support", systemPrompt: PROMPT, operator: OPERATOR } },
      channels: { web: "support" },
    });
    await h.ask("web", "c2", "/human");
    await h.waitForReplies(2);

    // Renamed "support" → "helpdesk": same prompt, same operator chat.
    await h.restart({
      roles: { helpdesk: { kind: "support", systemPrompt: PROMPT, operator: OPERATOR } },
      channels: { web: "helpdesk" },
    });
    await h.ask("web", "c2", "Is anyone there?");
    await h.waitForReplies(3);
    // Still forwarded to 777, telling the operator how to answer …
    expect(h.replies[2]).toMatchObject(OPERATOR);
    expect(h.replies[2]!.text).toContain("(/reply 1 <text> · /resume 1)");
    // … which the operator then does.
    await h.ask(OPERATOR.agent, "777", "/reply 1 Yes, Ana here.");
    await h.waitForReplies(4);
    await new Promise((r) => setTimeout(r, 500));
    expect(h.replies.slice(3).map((r) => `${r.agent}:${r.chatId} <- ${r.text}`).sort()).toEqual([
      "tg-ops:777 <- Sent to #1 web:c2.",
      "web:c2 <- Yes, Ana here.",
    ]);
  });

  it("a role whose operator was removed gives its paused chats back to the bot (as with no operator at all)", async () => {
    const withOperator = (chatId: string) => ({ operator: { agent: OPERATOR.agent, chatId } });
    h = await startRolesHarness({
      roles: {
        support: { kind: "support", systemPrompt: PROMPT, ...withOperator("777") },
        sales: { kind: "support", systemPrompt: `${PROMPT} Sales.`, ...withOperator("888") },
      },
      channels: { web: "support", shop: "sales" },
    });
    await h.ask("web", "c3", "/human");
    await h.waitForReplies(2);

    // The support role no longer has a person behind it (777 is someone's private chat again); sales still does.
    await h.restart({
      roles: {
        support: { kind: "support", systemPrompt: PROMPT },
        sales: { kind: "support", systemPrompt: `${PROMPT} Sales.`, ...withOperator("888") },
      },
      channels: { web: "support", shop: "sales" },
    });
    h.groq.script({ kind: "ok", text: "Our opening hours are 9 to 5." });
    await h.ask("web", "c3", "What are your opening hours?");
    await h.waitForReplies(3);
    expect(h.replies[2]).toMatchObject({ agent: "web", chatId: "c3", text: "Our opening hours are 9 to 5." });
  });
});
