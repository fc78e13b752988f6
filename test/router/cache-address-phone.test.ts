// The reply cache stores no prompt with a street address or a short national phone number: one user's answer
// is served to others, and in lower case ("12 elm street") the guard sees no name to tell one user's street
// from another's. Real store, the orchestrator's cache settings.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cacheScope, createResponseCache, type ResponseCache } from "../../src/router/cache.ts";
import { swappedSubject } from "../../src/router/matcher.ts";
import { tokenize } from "../../src/router/normalize.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

let store: Store | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  store?.close();
  await cleanup?.();
});

async function openCache(): Promise<ResponseCache> {
  const t = await tempDir("aideazz-cache-personal-");
  cleanup = t.cleanup;
  store = await openStore({ url: `file:${join(t.dir, "cache.db")}` });
  await migrate(store.client);
  // The orchestrator's defaults (src/agents/orchestrator/config.ts cache section).
  return createResponseCache({
    client: store.client,
    now: Date.now,
    ttlMs: 86_400_000,
    lexicalThreshold: 0.5,
    semanticThreshold: 0.92,
  });
}
const meta = { provider: "groq", model: "llama-3.1-8b-instant" };
const scope = cacheScope("support", "You are the support assistant of Example Deli.");
const stored = async () =>
  (await store!.client.execute("SELECT prompt FROM cache_entries")).rows.map((r) => r["prompt"]);

describe("reply cache: addresses and phone numbers are personal", () => {
  it("one user's address is not served to another user asking about their own street", async () => {
    const cache = await openCache();
    const answer = "Yes, we can deliver to 12 Elm Street tomorrow.";
    await cache.store(scope, "can you deliver to 12 elm street tomorrow?", answer, meta);
    expect(await cache.lookup(scope, "can you deliver to 12 oak street tomorrow?")).toBeNull();
  });

  it("addresses as other countries write them are not stored; a street without a house number is", async () => {
    const cache = await openCache();
    for (
      const q of [
        "do you deliver to 221b Baker St.?",
        "can you ship to 5 rue de la paix, paris?",
        "can you deliver to calle mayor 5?",
        "kan I levere til elmegade 12?",
        "do you deliver to karl johans gate 1?",
        "liefern Sie in die Bahnhofstraße 5?",
      ]
    ) await cache.store(scope, q, "Yes, we deliver there.", meta);
    await cache.store(scope, "Do you deliver to Elm Street?", "Yes, we deliver to all of Springfield.", meta);
    expect(await stored()).toEqual(["Do you deliver to Elm Street?"]);
  });

  it("a prompt with an 8-digit phone number (Denmark, Norway, Singapore) is not cached, as one of 9+ digits", async () => {
    const cache = await openCache();
    for (const number of ["2345 6789", "412 345 678"]) {
      const prompt = `my number is ${number}, can you text me when my order ships?`;
      await cache.store(scope, prompt, `Sure, we will text ${number} when it ships.`, meta);
    }
    expect(await stored()).toEqual([]);
  });

  it("another street after the same house number is another subject to the lexical tier's check", () => {
    const question = "can you deliver to 12 elm street?";
    const known = new Set([...tokenize(question), ...tokenize("Yes, to 12 Elm Street.")]);
    expect(swappedSubject("can you deliver to 12 oak street?", question, known)).toBe("oak");
  });
});
