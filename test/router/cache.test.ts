// The reply cache's bounds: at most maxEntries per scope, the oldest going first from the store and the lexical index.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cacheScope, createResponseCache } from "../../src/router/cache.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let store: Store | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  store?.close();
  await cleanup?.();
});

describe("reply cache", () => {
  it("keeps at most maxEntries per scope: the oldest leave the store and the index; other scopes keep theirs", async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    store = await openStore({ url: `file:${join(t.dir, "cache.db")}` });
    await migrate(store.client);
    const cache = createResponseCache({
      client: store.client,
      now: Date.now,
      ttlMs: 86_400_000,
      lexicalThreshold: 0.5,
      semanticThreshold: 0.92,
      maxEntries: 3,
    });
    const a = cacheScope("support", "Prompt A");
    const b = cacheScope("sales", "Prompt B");
    const meta = { provider: "groq", model: "m" };
    const questions = [
      "How do I reset my password?",
      "What are your opening hours?",
      "Do you ship to Canada?",
      "Can I pay by invoice?",
      "Where is my order?",
    ];
    await cache.store(b, questions[0]!, "B's answer.", meta);
    for (const [i, q] of questions.entries()) await cache.store(a, q, `Answer ${i}.`, meta);
    const count = async (scope: string) =>
      Number((await store!.client.execute({ sql: "SELECT count(*) AS n FROM cache_entries WHERE scope = ?", args: [scope] }))
        .rows[0]!["n"]);
    expect([await count(a), await count(b)]).toEqual([3, 1]);
    // The two oldest are gone, by their exact words and by a paraphrase; the newest three are served.
    expect(await cache.lookup(a, questions[0]!)).toBeNull();
    expect(await cache.lookup(a, "how can I reset my password")).toBeNull();
    expect(await cache.lookup(a, questions[1]!)).toBeNull();
    for (const [i, q] of questions.entries()) {
      if (i >= 2) expect((await cache.lookup(a, q))?.answer).toBe(`Answer ${i}.`);
    }
    expect((await cache.lookup(b, questions[0]!))?.answer).toBe("B's answer.");
  });

  it("a running process serves no answer `aideazz cache clear` deleted, and the answer another process stored again", async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    const url = `file:${join(t.dir, "live.db")}`;
    store = await openStore({ url });
    await migrate(store.client);
    const options = { now: Date.now, ttlMs: 86_400_000, lexicalThreshold: 0.5, semanticThreshold: 0.92 };
    const cache = createResponseCache({ client: store.client, ...options }); // the orchestrator's, long-lived
    const scope = cacheScope("support", "Prompt A");
    const meta = { provider: "groq", model: "m" };
    await cache.store(scope, "What are your opening hours?", "BAD ANSWER: visit evil.example", meta);
    const asked = "what are your opening hours today?"; // a lexical hit: served from the index
    expect(await cache.lookup(scope, asked)).toMatchObject({ tier: "lexical", answer: "BAD ANSWER: visit evil.example" });

    // Another process (here another cache on the same file) stores a new answer for the same question.
    const other = createResponseCache({ client: store.client, ...options });
    await other.store(scope, "What are your opening hours?", "9 to 5.", meta);
    expect((await cache.lookup(scope, asked))?.answer).toBe("9 to 5.");

    // The operator clears the cache from the CLI, a process of its own.
    const r = await cli(["cache", "clear", "--db", url]);
    expect(r.stdout).toContain("deleted 1 entry");
    expect(await cache.lookup(scope, asked)).toBeNull();
  });
});
