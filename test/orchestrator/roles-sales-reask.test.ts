// A sales role's second router call (the price re-ask, src/agents/orchestrator/roles/hooks.ts `reask`) gets what is
// left of the turn's `router.deadlineMs`, and its failure does not fail the turn: the first answer, already paid
// for, goes to the price guard (the catalogue reply), not the fallback notice and a retried turn calling the model
// for it again.
import { afterEach, describe, expect, it } from "vitest";
import { type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const CATALOGUE = [
  { name: "Starter plan", price: 9, currency: "USD", description: "1 bot" },
  { name: "Pro plan", price: 29, currency: "USD", description: "5 bots" },
];

const start = (router: Record<string, unknown> = {}) =>
  startRolesHarness({
    roles: { shop: { kind: "sales", systemPrompt: "You sell Example Co's chatbot plans.", catalogue: CATALOGUE } },
    channels: { store: "shop" },
    router,
  });

describe("the sales re-ask inside one turn", () => {
  it("a re-ask every provider fails does not turn a paid answer into the fallback notice and a second model call", async () => {
    h = await start();
    // The first answer quotes a price not in the catalogue; the re-ask meets a provider failure.
    h.groq.script({ kind: "ok", text: "The Pro plan costs $19/month." }, { kind: "server_error" });
    await h.ask("store", "s1", "What does the Pro plan cost?");
    await h.waitForReplies(1);
    await new Promise((r) => setTimeout(r, 1_500)); // the bus retry (retryBaseMs 200) would have run by now
    const kinds = h.replies.map((r) => `${r.kind}: ${r.text}`);
    // The guard's own way out when the model cannot give a catalogue price: the catalogue reply, as when the re-ask
    // answers with a wrong price again ("a model that invents prices twice gets a deterministic catalogue reply").
    expect(kinds).toEqual(["answer: Here are the prices from our catalogue:\n- Pro plan: 29 USD (5 bots)"]);
    expect(h.modelCalls()).toBe(2);
  });

  it("the re-ask gets what is left of the turn's deadline, not a second whole deadline", async () => {
    h = await start({ deadlineMs: 1_500 });
    // Each call takes 1 s (within the provider's 2 s timeout): the two together take longer than the 1.5 s deadline.
    h.groq.script(
      { kind: "ok", text: "The Pro plan costs $19/month.", delayMs: 1_000 },
      { kind: "ok", text: "The Pro plan costs 29 USD a month.", delayMs: 1_000 },
    );
    const t0 = Date.now();
    await h.ask("store", "s1", "What does the Pro plan cost?");
    await h.waitForReplies(1);
    const tookMs = Date.now() - t0;
    // router.deadlineMs: "Overall deadline for one reply" (plus a generous 500 ms for the bus and the store).
    expect(tookMs, `the reply came after ${tookMs} ms: ${h.replies[0]?.text}`).toBeLessThan(1_500 + 500);
  });
});
