// The response cache's memory per scope. The OpenAI endpoint's scope is its model and system prompt, and a client
// whose system prompt changes per request (today's date, retrieved documents) makes a scope per request: a verbatim
// entry (exact tier only) must not load its scope's lexical index (~25 KB each), and the retention purge must let go
// of an index it emptied. Measured as heap after forced GC, against bounds ten times under the leak they catch.
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cacheScope, createResponseCache } from "../../src/router/cache.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

setFlagsFromString("--expose_gc");
const gc = runInNewContext("gc") as () => void;
const heapUsed = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const ANSWER = "Our support team answers within one business day; for urgent matters call the hotline on the contact page.";
const SCOPES = 2000;
/** Bytes a scope's index would leave for the run: ~25 KB × 2000 = ~50 MB. */
const BOUND = 5_000_000;

let store: Store;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  const t = await tempDir("aideazz-cache-memory-");
  cleanup = t.cleanup;
  store = await openStore({ url: `file:${join(t.dir, "c.db")}` });
  await migrate(store.client, Date.now);
});
afterEach(async () => {
  store.close();
  await cleanup();
});

describe("response cache: memory per scope", () => {
  it("a verbatim entry (the OpenAI endpoint's) does not load its scope's lexical index", async () => {
    const cache = createResponseCache({
      client: store.client, now: Date.now, ttlMs: 86_400_000, lexicalThreshold: 0.5, semanticThreshold: 0.9,
    });
    const h0 = heapUsed();
    for (let i = 0; i < SCOPES; i++) {
      const scope = cacheScope("api:fast", `You are a helpful assistant. Today is day ${i} of the year.`);
      await cache.store(scope, "How fast does support answer?", ANSWER, { provider: "groq", model: "m", verbatim: true });
    }
    expect(heapUsed() - h0).toBeLessThan(BOUND);
    // Still served by the exact tier.
    const last = cacheScope("api:fast", `You are a helpful assistant. Today is day ${SCOPES - 1} of the year.`);
    expect((await cache.lookupExact(last, "How fast does support answer?", true))?.answer).toBe(ANSWER);
  }, 60_000);

  it("a verbatim scope keeps at most maxEntries, the oldest going first", async () => {
    const cache = createResponseCache({
      client: store.client, now: Date.now, ttlMs: 86_400_000, lexicalThreshold: 0.5, semanticThreshold: 0.9, maxEntries: 2,
    });
    const scope = cacheScope("api:fast", "Answer briefly.");
    const questions = ["Capital of Peru?", "Capital of Chile?", "Capital of Spain?"];
    for (const q of questions) await cache.store(scope, q, `Answer to ${q}`, { provider: "groq", model: "m", verbatim: true });
    const served = await Promise.all(questions.map((q) => cache.lookupExact(scope, q, true)));
    expect(served.map((hit) => hit?.answer ?? null)).toEqual([null, "Answer to Capital of Chile?", "Answer to Capital of Spain?"]);
  });

  it("the retention purge lets go of the lexical indexes it emptied", async () => {
    let t = Date.now();
    const cache = createResponseCache({
      client: store.client, now: () => t, ttlMs: 7 * 86_400_000, lexicalThreshold: 0.5, semanticThreshold: 0.9,
    });
    const h0 = heapUsed();
    for (let i = 0; i < SCOPES; i++) {
      // Not verbatim: each store loads its scope's index, as a chat role's does.
      const scope = cacheScope("support", `You are a helpful assistant. Today is day ${i} of the year.`);
      await cache.store(scope, "How fast does support answer?", ANSWER, { provider: "groq", model: "m" });
    }
    t += 8 * 86_400_000; // past the TTL: the hourly retention pass deletes them all
    await cache.purgeBefore(t - 86_400_000);
    expect((await store.client.execute("SELECT count(*) AS n FROM cache_entries")).rows[0]!["n"]).toBe(0);
    expect(heapUsed() - h0).toBeLessThan(BOUND);
  }, 60_000);
});
