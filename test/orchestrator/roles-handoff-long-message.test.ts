/**
 * A long message of a paused chat reaches the operator whole: the Telegram egress splits a long text, and the end of
 * a complaint (here its order number) is often the point. An earlier turn the handoff notice cuts short is cut
 * between characters, never through an emoji: half a surrogate pair is text Telegram refuses.
 */
import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

describe("a long message of a paused chat", () => {
  it("reaches the operator whole, not cut at 3,000 characters", async () => {
    h = await startRolesHarness({
      roles: {
        support: {
          kind: "support",
          systemPrompt: "You are Example Co's support bot. Be brief and friendly with every customer.",
          operator: OPERATOR,
        },
      },
      channels: {},
      whatsapp: { wa: "support" },
    });
    await h.ask("wa", "16505551234", "/human");
    await h.waitForReplies(2);
    // A WhatsApp text may be 4,096 characters: the customer's complaint, its last line the order number.
    const complaint = `${"The parcel arrived broken and the replacement too. ".repeat(68)}Order 77123.`;
    expect(complaint.length).toBeLessThanOrEqual(4096);
    await h.ask("wa", "16505551234", complaint);
    await h.waitForReplies(3);
    expect(h.replies[2]!.text).toBe(`#1 wa:16505551234: ${complaint}\n(/reply 1 <text> · /resume 1)`);
  });
});

describe("a long earlier turn in the handoff notice", () => {
  it("is cut between characters: an emoji at the cut stays whole, not half a surrogate pair", async () => {
    h = await startRolesHarness({
      roles: {
        support: {
          kind: "support",
          systemPrompt: "You are Example Co's support bot. Be brief and friendly with every customer.",
          operator: OPERATOR,
        },
      },
      channels: { web: "support" },
    });
    // The emoji's two UTF-16 units are the turn's 499th and 500th: a cut after 499 units splits them.
    const question = `${"x".repeat(498)}😀 and the rest of a long question about my order.`;
    h.groq.script({ kind: "ok", text: "Let me check that for you." });
    await h.ask("web", "c1", question);
    await h.waitForReplies(1);
    await h.ask("web", "c1", "/human");
    await h.waitForReplies(3);
    const notice = h.replies.find((r) => r.agent === OPERATOR.agent)!.text;
    expect(notice.isWellFormed()).toBe(true);
    expect(notice).toContain(`User: ${"x".repeat(498)}😀…`);
  });
});
