// `aideazz cache clear` on a real libSQL file, beside a running orchestrator's cache.
import { afterEach, describe, expect, it } from "vitest";
import { cacheScope, createResponseCache } from "../../src/router/cache.ts";
import { cli } from "../support/cli.ts";
import { freshDb, type TestDb } from "../bus/helpers.ts";

const SYSTEM_PROMPT = "You are the support assistant of Acme.";

describe("aideazz cache clear beside a running cache", () => {
  let db: TestDb | undefined;
  afterEach(async () => {
    await db?.cleanup();
    db = undefined;
  });

  async function orchestratorCache() {
    db = await freshDb();
    const cache = createResponseCache({
      client: db.store.client,
      now: Date.now,
      ttlMs: 7 * 86_400_000,
      lexicalThreshold: 0.5,
      semanticThreshold: 0.92,
    });
    const scope = cacheScope("support", SYSTEM_PROMPT);
    await cache.store(scope, "What are your opening hours?", "We are open 9 to 5.", { provider: "groq", model: "m" });
    await cache.store(scope, "Do you ship to Canada?", "Yes, we ship to Canada.", { provider: "groq", model: "m" });
    return { cache, scope, dbArgs: ["--db", `file:${db.path}`] };
  }

  it("`cache clear` while the orchestrator runs stops its warmed lexical index serving at once", async () => {
    const { cache, scope, dbArgs } = await orchestratorCache();
    expect((await cache.lookup(scope, "what are the opening hours"))?.answer).toBe("We are open 9 to 5.");
    const r = await cli(["cache", "clear", ...dbArgs]);
    expect(r).toMatchObject({ code: 0, stdout: "cache clear: deleted 2 entries\n" });
    expect(await cache.lookup(scope, "what are the opening hours")).toBeNull();
    expect(await cache.lookup(scope, "What are your opening hours?")).toBeNull();
  });

  it("`cache clear --scope <role>` deletes that role's answers, which are served no more", async () => {
    const { cache, scope, dbArgs } = await orchestratorCache();
    // A scope is `<role>/<sha256(systemPrompt)[0:12]>/<context>`: the operator types the role.
    const r = await cli(["cache", "clear", "--scope", "support", ...dbArgs]);
    expect(r).toMatchObject({ code: 0, stdout: "cache clear: deleted 2 entries\n" });
    expect(await cache.lookup(scope, "What are your opening hours?")).toBeNull();
  });
});
