import { afterEach, describe, expect, it } from "vitest";
import { type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const CATALOGUE = [
  { name: "Starter plan", price: 9, currency: "USD", description: "1 bot, 1,000 messages a month" },
  { name: "Pro plan", price: 29, currency: "USD", description: "5 bots" },
  { name: "Enterprise onboarding", price: 1299.5, currency: "EUR", description: "" },
];

function start(cache = false) {
  return startRolesHarness({
    roles: {
      shop: { kind: "sales", systemPrompt: "You sell Example Co's chatbot plans.", catalogue: CATALOGUE },
    },
    channels: { store: "shop" },
    cache: { enabled: cache },
  });
}

describe("sales price guard", () => {
  it("grounds the model in the catalogue and lets a catalogue price through unchanged", async () => {
    h = await start();
    h.groq.script({
      kind: "ok",
      text: "The Pro plan is $29 per month, Starter is 9 USD, onboarding 1.299,50 €.",
    });
    await h.ask("store", "s1", "What does the Pro plan cost?");
    const [reply] = await h.waitForReplies(1);
    expect(reply!.text).toBe("The Pro plan is $29 per month, Starter is 9 USD, onboarding 1.299,50 €.");
    expect(h.modelCalls()).toBe(1);
    const system = h.request(0)[0]!.content;
    expect(system).toMatch(
      /^You sell Example Co's chatbot plans\.\n\nProduct catalogue \(the only prices you may quote/,
    );
    expect(system).toContain(
      "- Starter plan: 9 USD. 1 bot, 1,000 messages a month\n- Pro plan: 29 USD. 5 bots\n- Enterprise onboarding: 1299.50 EUR",
    );
  });

  it("a hallucinated price is asked for again with a stricter instruction; the corrected answer is sent", async () => {
    h = await start();
    h.groq.script({ kind: "ok", text: "The Pro plan costs $19/month." }, {
      kind: "ok",
      text: "The Pro plan costs 29 USD a month.",
    });
    await h.ask("store", "s1", "What does the Pro plan cost?");
    const [reply] = await h.waitForReplies(1);
    expect(reply!.text).toBe("The Pro plan costs 29 USD a month.");
    expect(h.modelCalls()).toBe(2);
    const retry = h.request(1);
    expect(retry.at(-1)).toEqual({
      role: "system",
      content: expect.stringMatching(
        /^Your previous answer quoted \$19, which is not in the product catalogue\. Answer again quoting only catalogue prices/,
      ),
    });
    expect(retry.slice(0, -1)).toEqual(h.request(0));
  });

  it("a model that invents prices twice gets a deterministic catalogue reply with the real price", async () => {
    h = await start();
    h.groq.script(
      { kind: "ok", text: "Pro is only $24.99 this week!" },
      { kind: "ok", text: "Sorry, Pro is 27 dollars, or 2 for $50." },
    );
    await h.ask("store", "s1", "How much is the Pro plan?");
    const [reply] = await h.waitForReplies(1);
    expect(reply!.text).toBe("Here are the prices from our catalogue:\n- Pro plan: 29 USD (5 bots)");
    expect(h.modelCalls()).toBe(2);
    const remembered = await h.rows("SELECT text FROM conversation_turns WHERE role = 'assistant'");
    expect(remembered.map((r) => r["text"])).toEqual([reply!.text]);
  });

  it("a price in the wrong currency is refused; with no relevant product the whole catalogue is listed", async () => {
    h = await start();
    h.groq.script({ kind: "ok", text: "Setup costs 1299.50 USD." }, {
      kind: "ok",
      text: "It is USD 1,299.50 for the setup.",
    });
    await h.ask("store", "s1", "Quote me for the setup");
    const [reply] = await h.waitForReplies(1);
    expect(reply!.text).toBe([
      "Here are the prices from our catalogue:",
      "- Starter plan: 9 USD (1 bot, 1,000 messages a month)",
      "- Pro plan: 29 USD (5 bots)",
      "- Enterprise onboarding: 1299.50 EUR",
    ].join("\n"));
  });

  it("a refused reply never enters the cache: the next chat asking the same gets a fresh answer", async () => {
    h = await start(true);
    h.groq.script(
      { kind: "ok", text: "Starter is $5." },
      { kind: "ok", text: "Starter is $6." },
      { kind: "ok", text: "Starter is $9 a month." },
    );
    await h.ask("store", "a", "What does the Starter plan cost?");
    await h.waitForReplies(1);
    await h.ask("store", "b", "What does the Starter plan cost?");
    const replies = await h.waitForReplies(2);
    expect(replies.map((r) => r.text)).toEqual([
      "Here are the prices from our catalogue:\n- Starter plan: 9 USD (1 bot, 1,000 messages a month)",
      "Starter is $9 a month.",
    ]);
    expect(h.modelCalls()).toBe(3);
  });
});
