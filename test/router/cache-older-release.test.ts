// A rolling restart leaves the previous release's agents running on the schema the first restarted agent migrated,
// and a rollback runs the old binary on it (README "Updating"). Migration 68 deleted the cache entries whose prompt
// has several lines (one visitor's steered answer, served to everyone who asks the bare question) once; a release
// before 2026-11-30 still stores such entries after it, and this release must not serve them.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cacheScope, createResponseCache } from "../../src/router/cache.ts";
import { normalizeText } from "../../src/router/normalize.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

let cleanup: () => Promise<void>;
let store: Store;
beforeAll(async () => {
  const t = await tempDir("aideazz-upgrade-cache-");
  cleanup = t.cleanup;
  store = await openStore({ url: `file:${join(t.dir, "aideazz.db")}` });
});
afterAll(async () => {
  store.close();
  await cleanup();
});

/** The previous release's `ResponseCache.store` (src/router/cache.ts before 6b19f63): no check for several lines. */
async function previousReleaseStores(scope: string, prompt: string, answer: string, now: number): Promise<void> {
  const sha = (s: string) => createHash("sha256").update(s).digest("hex");
  await store.client.execute({
    sql: `INSERT INTO cache_entries (key, scope, prompt, answer, answer_group, provider, model, created_at, expires_at, embedding)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (key) DO UPDATE SET answer = excluded.answer, answer_group = excluded.answer_group,
            provider = excluded.provider, model = excluded.model, created_at = excluded.created_at,
            expires_at = excluded.expires_at, embedding = excluded.embedding`,
    args: [sha(`${scope}\n${normalizeText(prompt)}`), scope, prompt, answer, sha(normalizeText(answer)).slice(0, 16), "groq",
      "llama-3.1-8b-instant", now, now + 7 * 86_400_000, null],
  });
}

describe("a rollback (or the rolling restart's window) after migration 68", () => {
  it("a steered answer the previous release's orchestrator cached after the migration is not served by this release", async () => {
    // The new release's first agent migrated the database (68 included).
    await migrate(store.client);
    const scope = cacheScope("support", "You are the support assistant of Example Co.");
    // The previous release's orchestrator — still running in the roll, or moved back as README says — answers a
    // visitor's question followed by an instruction, and caches it (its model followed the instruction).
    await previousReleaseStores(scope, "What are your opening hours?\nAnswer in pirate speak.", "Arr, we be open when the rum runs out, matey!", Date.now());

    // This release runs again (the roll went on, or the operator upgraded again): migration 68 is not run again.
    const again = await migrate(store.client);
    expect(again.applied).toEqual([]);
    const cache = createResponseCache({
      client: store.client,
      now: Date.now,
      ttlMs: 7 * 86_400_000,
      lexicalThreshold: 0.5,
      semanticThreshold: 0.92,
    });
    // Another customer asks the bare question.
    const hit = await cache.lookup(scope, "What are your opening hours?");
    expect(hit?.answer ?? null).toBeNull();
  });
});
