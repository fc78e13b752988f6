// README "Updating": a rolled-back binary, or one the rolling restart has not reached yet, runs on the schema this
// release migrated to. Migration 62 dropped `user_usage`, which every release before 2026-11-28 writes on each
// admitted message; migration 76 puts it back. Also: no migration drops or renames a table or column again.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { migrations } from "../../src/store/migrations.ts";
import { tempDir } from "../support/tmp.ts";

let cleanup: () => Promise<void>;
let store: Store;
beforeAll(async () => {
  const t = await tempDir("aideazz-rollback-schema-");
  cleanup = t.cleanup;
  store = await openStore({ url: `file:${join(t.dir, "aideazz.db")}` });
  await migrate(store.client); // this release's first restarted agent migrated the database
});
afterAll(async () => {
  store.close();
  await cleanup();
});

describe("the previous release's orchestrator on the schema this release migrated to", () => {
  it("admits a user's message (its per-user limits statement, verbatim from 2735fd4^) instead of failing every turn", async () => {
    const at = Date.now();
    const admit = store.client.execute({
      sql: `INSERT INTO user_usage (user_key, day, minute, minute_count, tokens) VALUES (?, ?, ?, 1, 0)
              ON CONFLICT (user_key, day) DO UPDATE SET
                minute_count = CASE WHEN minute = excluded.minute THEN minute_count + 1 ELSE 1 END,
                minute = excluded.minute
              RETURNING minute_count, tokens, notified_minute`,
      args: ["telegram:42", new Date(at).toISOString().slice(0, 10), Math.floor(at / 60_000)],
    });
    await expect(admit).resolves.toMatchObject({ rows: [expect.anything()] });
  });
});

describe("migrations", () => {
  it("drop or rename no table or column after 62 (older releases on this schema would fail)", () => {
    const breaking = migrations.filter((m) => m.version > 62).flatMap((m) =>
      m.statements.filter((sql) => /\bDROP\s+(TABLE|COLUMN)\b|\bRENAME\b/i.test(sql)).map((sql) => `${m.version}: ${sql}`)
    );
    expect(breaking).toEqual([]);
  });
});
