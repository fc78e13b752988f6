// An upgrade's `aideazz migrate` (or an agent's start) killed with SIGKILL in the middle of a
// long migration leaves the database at the last whole migration — the one being applied leaves no trace — and the
// next run finishes the upgrade. Migration 65 indexes web chat replies and cache entries by age: on a big database it
// holds the write lock for a while.
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrations } from "../../src/store/migrations.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { V8_FLAGS_ARG } from "../../src/v8-flags.ts";
import { denoBin, mainTs, repoRoot, runAideazz } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-migrate-kill-")));
afterAll(() => cleanup());

describe("a migration killed half way", () => {
  it("is rolled back whole, and the next `aideazz migrate` applies it and the rest", async () => {
    const db = join(dir, "aideazz.db");
    const before = migrations.filter((m) => m.version < 65);
    const store = await openStore({ url: `file:${db}` });
    await migrate(store.client, Date.now, before);
    for (let k = 0; k < 4; k++) {
      await store.client.batch([{
        sql: `WITH RECURSIVE c(x) AS (VALUES(1) UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
          INSERT INTO webchat_replies (agent, session_id, reply_key, kind, text, created_at)
          SELECT 'web', hex(randomblob(8)), hex(randomblob(16)), 'answer', 'hello', abs(random() % 1000000000) FROM c`,
      }], "write");
    }
    await store.checkpoint("truncate");
    store.close();

    // Killed while migration 65 writes its indexes: the -wal (truncated above) grows past 2 MB.
    const proc = spawn(denoBin, ["run", "-A", V8_FLAGS_ARG, mainTs, "migrate", "--db", `file:${db}`], {
      cwd: repoRoot,
      stdio: "ignore",
    });
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    const walSize = () => (existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0);
    while (proc.exitCode === null && walSize() < 2 * 1024 * 1024) await new Promise((r) => setTimeout(r, 2));
    proc.kill("SIGKILL");
    expect(await exited).toBeNull(); // killed, not finished
    const check = await openStore({ url: `file:${db}`, create: false });
    try {
      const applied = (await check.client.execute("SELECT version FROM schema_migrations ORDER BY version")).rows
        .map((r) => Number(r["version"]));
      const indexes = (await check.client.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('webchat_replies_created', 'cache_entries_created')",
      )).rows.length;
      // The migration under way left nothing: neither its indexes nor its version row.
      expect({ last: applied.at(-1), indexes }).toEqual({ last: 64, indexes: 0 });
      const integrity = await check.client.execute("PRAGMA integrity_check");
      expect(integrity.rows[0]!["integrity_check"]).toBe("ok");
    } finally {
      check.close();
    }
    const r = await runAideazz(["migrate", "--db", `file:${db}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.endsWith(`schema version ${migrations.at(-1)!.version}\n`)).toBe(true);
    const after = await openStore({ url: `file:${db}`, create: false });
    try {
      const n = await after.client.execute("SELECT count(*) AS n FROM schema_migrations");
      expect(Number(n.rows[0]!["n"])).toBe(migrations.length);
    } finally {
      after.close();
    }
  }, 180_000);
});
