// Review: "the FAQ answers only confident matches". With a single FAQ entry (or a single group in a scope) nothing
// competes, so the matcher's confidence is the bare cosine (matcher.ts:404-406) and a question sharing only
// "what are your" clears the default 0.5. The FAQ's swappedSubject check gives up when two words of the entry are
// replaced by one (faq.ts: lost.length > 1), and the cache has no such check at all.
import { afterEach, describe, expect, it } from "vitest";
import { cacheScope, createResponseCache } from "../../src/router/cache.ts";
import { createFaq } from "../../src/router/faq.ts";
import { type TestStore, testStore } from "../router/providers/support.ts";

let ts: TestStore | undefined;
afterEach(async () => await ts?.cleanup());

const HOURS = "We are open 9 to 5, Monday to Friday.";

describe("unconfident matches", () => {
  it("a one-entry FAQ about opening hours does not answer a question about prices", () => {
    const faq = createFaq({ entries: [{ id: "hours", questions: ["What are your opening hours?"], answer: HOURS }] }, 0.5);
    expect(faq.answer("What are your prices?")).toBeNull(); // FAILS: the hours answer, score 0.52
  });

  it("the cache does not answer a payment question with a stored opening-hours answer", async () => {
    ts = await testStore();
    const cache = createResponseCache({ client: ts.store.client, now: Date.now, ttlMs: 86_400_000, lexicalThreshold: 0.5, semanticThreshold: 0.92 });
    const scope = cacheScope("support", "You are a shop's assistant.");
    await cache.store(scope, "What are your opening hours?", HOURS, { provider: "groq", model: "m" });
    await cache.store(scope, "Do you ship abroad?", "We ship to the EU.", { provider: "groq", model: "m" });
    expect(await cache.lookup(scope, "What are your payment options?")).toBeNull(); // FAILS: the hours answer, 0.51
  });
});
