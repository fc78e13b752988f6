/**
 * Handoffs of WhatsApp customers: a WhatsApp and a web chat customer with the same chat id keep their own
 * forwards and replies; an operator's /reply after the customer's 24-hour window closed (handed off in the evening,
 * answered the next day) is not reported as sent: WhatsApp takes no free-form text then, and without a template the
 * egress records the reply as "not possible" and sends nothing (src/agents/whatsapp/send.ts).
 */
import { afterEach, describe, expect, it } from "vitest";
import { touchInbound } from "../../src/agents/channel/contacts.ts";
import { createGraphClient } from "../../src/agents/whatsapp/graph.ts";
import { createWhatsAppTransport } from "../../src/agents/whatsapp/send.ts";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const USER = "16505551234";
const HOUR = 3_600_000;

describe("two customers with the same chat id on two channels", () => {
  it("interleaved forwards and replies stay with their own customer", async () => {
    h = await startRolesHarness({
      roles: {
        support: {
          kind: "support",
          systemPrompt: "You are Example Co's support bot. Be brief and friendly with every customer.",
          operator: OPERATOR,
        },
      },
      channels: { web: "support" },
      whatsapp: { wa: "support" },
    });
    await h.ask("wa", "4242", "/human");
    await h.waitForReplies(2);
    await h.ask("web", "4242", "/human");
    await h.waitForReplies(4);
    await h.ask("web", "4242", "from web");
    await h.ask("wa", "4242", "from wa");
    await h.waitForReplies(6);
    const forwards = h.replies.slice(4).map((r) => r.text.split("\n")[0]).sort();
    expect(forwards).toEqual(["#1 wa:4242: from wa", "#2 web:4242: from web"]);
    await h.ask(OPERATOR.agent, "777", "/reply 2 to web");
    await h.ask(OPERATOR.agent, "777", "/reply wa:4242 to wa");
    await h.waitForReplies(10);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.replies.slice(6).filter((r) => r.agent !== OPERATOR.agent).map((r) => `${r.agent}:${r.chatId} <- ${r.text}`).sort())
      .toEqual(["wa:4242 <- to wa", "web:4242 <- to web"]);
  });
});

describe("operator /reply to a WhatsApp chat whose 24-hour window closed", () => {
  it("the operator is not told the answer was sent when WhatsApp cannot deliver it", async () => {
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
    await h.ask("wa", USER, "/human");
    await h.waitForReplies(2);
    // As WhatsApp's ingress stored it: the customer last wrote 25 hours ago (the handoff was yesterday evening).
    await h.store.client.batch([touchInbound("wa", USER, Date.now() - 25 * HOUR, Date.now())], "write");

    await h.ask(OPERATOR.agent, "777", "/reply 1 Sorry for the wait: your refund went out today.");
    await h.waitForReplies(4);
    const relay = h.replies.find((r) => r.agent === "wa" && r.kind === "answer")!;
    const ack = h.replies.filter((r) => r.agent === OPERATOR.agent).at(-1)!;

    // The real WhatsApp egress planning for that relay: nothing can be sent.
    const transport = createWhatsAppTransport({
      graph: createGraphClient({
        baseUrl: "http://127.0.0.1:9",
        phoneNumberId: "106540352242922",
        accessToken: "EAAB-wa-token",
        fetch: globalThis.fetch.bind(globalThis),
      }),
      client: h.store.client,
      agent: "wa",
      now: Date.now,
      template: undefined,
    });
    const plan = await transport.plan(relay);
    expect(plan).toEqual({ skipped: "not possible: the 24-hour window is closed and no template is configured" });
    // … while the operator reads that it was sent.
    expect(ack.text).not.toMatch(/^Sent to #1/);
  });
});
