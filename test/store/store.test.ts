// Runs under Node (vitest) and under Deno (`deno run -A node_modules/vitest/vitest.mjs run test/store`).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  filePathOf,
  isStoreUnavailable,
  migrate,
  migrations,
  openStore,
  SchemaTooNewError,
  type Store,
} from "../../src/store/mod.ts";
import { repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
const opened: Store[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir("aideazz-store-")));
afterEach(async () => {
  for (const s of opened.splice(0)) s.close();
  await cleanup();
});

async function open(name = "a.db", opts: { synchronous?: "normal" | "full" } = {}): Promise<Store> {
  const store = await openStore({ url: `file:${join(dir, name)}`, ...opts });
  opened.push(store);
  return store;
}

async function pragmas(store: Store) {
  const read = async (p: string) => Object.values((await store.client.execute(`PRAGMA ${p}`)).rows[0] ?? {})[0];
  return {
    journal: await read("journal_mode"),
    synchronous: await read("synchronous"),
    busy: await read("busy_timeout"),
    fk: await read("foreign_keys"),
  };
}

describe("store", () => {
  it("runs on the current runtime", () => {
    expect(["deno", "node"]).toContain("Deno" in globalThis ? "deno" : "node");
  });

  it("configures WAL, synchronous, busy timeout and foreign keys", async () => {
    const store = await open();
    expect(await pragmas(store)).toEqual({ journal: "wal", synchronous: 1, busy: 5000, fk: 1 });
  });

  it("opening a new database that another process is still creating waits for it instead of failing at once", async () => {
    // The other process holds the write lock of the new file before switching it to WAL: SQLite answers a switch
    // to WAL with SQLITE_BUSY at once then, without a busy handler.
    const path = join(dir, "new.db");
    const holder = spawn(process.execPath, [join(repoRoot, "test/support/hold-lock.mjs"), path, "300"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise((resolve) => holder.stdout!.once("data", resolve)); // "locked"
    const started = Date.now();
    const store = await openStore({ url: `file:${path}` });
    try {
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect(await pragmas(store)).toMatchObject({ journal: "wal" });
    } finally {
      store.close();
    }
  });

  it("configures every pooled connection, including ones opened while a transaction holds another", async () => {
    const store = await open("pool.db", { synchronous: "full" });
    const tx = await store.client.transaction("write");
    // Concurrent calls while the transaction holds a connection force the pool to open new ones.
    const all = await Promise.all(Array.from({ length: 6 }, () => pragmas(store)));
    await tx.rollback();
    const after = await pragmas(store);
    for (const p of [...all, after]) expect(p).toEqual({ journal: "wal", synchronous: 2, busy: 5000, fk: 1 });
    // The writer's own connection (every write goes through it; a plain SELECT runs on it too): the same
    // settings, but busy_timeout 0 (it waits for the lock on timers, not by sleeping the thread).
    const writer = (await store.client.execute(
      `SELECT (SELECT journal_mode FROM pragma_journal_mode) AS journal, (SELECT synchronous FROM pragma_synchronous)
        AS synchronous, (SELECT timeout FROM pragma_busy_timeout) AS busy, (SELECT foreign_keys FROM pragma_foreign_keys) AS fk`,
    )).rows[0]!;
    expect({ ...writer }).toEqual({ journal: "wal", synchronous: 2, busy: 0, fk: 1 });
  });

  it("enforces foreign keys on every connection", async () => {
    const store = await open("fk.db");
    await store.client.batch([
      "CREATE TABLE p (id INTEGER PRIMARY KEY)",
      "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p(id))",
    ], "write");
    // A read transaction holds one connection, so the insert runs on another.
    const tx = await store.client.transaction("read");
    await expect(store.client.execute("INSERT INTO c (p) VALUES (42)")).rejects.toThrow(/FOREIGN KEY/);
    await tx.rollback();
  });

  it("migrate applies every migration once and then finds nothing to do", async () => {
    const store = await open();
    const first = await migrate(store.client, () => 1_000);
    expect(first.applied).toEqual(migrations.map((m) => m.version));
    const second = await migrate(store.client);
    expect(second).toEqual({ applied: [], version: first.version });
    const rows = (await store.client.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version")).rows;
    expect(rows.map((r) => Number(r["version"]))).toEqual(first.applied);
  });

  it("six stores migrating one new database at the same moment all succeed, and the schema is applied once", async () => {
    const stores = await Promise.all(Array.from({ length: 6 }, () => open("race.db")));
    const results = await Promise.all(stores.map((s) => migrate(s.client)));
    expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
    const count = await stores[0]!.client.execute("SELECT count(*) AS n FROM schema_migrations");
    expect(Number(count.rows[0]!["n"])).toBe(migrations.length);
  });

  it("runs on a database a newer release migrated (a rollback), but refuses one that also lacks its own migrations", async () => {
    const store = await open();
    await migrate(store.client);
    await store.client.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)");
    expect(await migrate(store.client)).toEqual({ applied: [], version: 9999, newer: 9999 });
    await store.client.execute("DELETE FROM schema_migrations WHERE version = ?", [migrations.at(-1)!.version]);
    await expect(migrate(store.client)).rejects.toBeInstanceOf(SchemaTooNewError);
    await expect(migrate(store.client)).rejects.toThrow(/version 9999 .* upgrade the binary/);
  });

  it("creates the database's directory", async () => {
    const store = await open("nested/deeper/x.db");
    expect(store.path).toBe(join(dir, "nested/deeper/x.db"));
    await migrate(store.client);
  });

  it("a database file deleted under the store fails its durable writes as unavailable, and is never recreated beside its WAL", async () => {
    const path = join(dir, "gone.db");
    const store = await open("gone.db");
    await store.client.execute("CREATE TABLE t (x INTEGER)");
    await store.durableBatch([{ sql: "INSERT INTO t VALUES (1)", args: [] }]);
    await rm(path);
    const err = await store.durableBatch([{ sql: "INSERT INTO t VALUES (2)", args: [] }]).catch((e: unknown) => e);
    expect(isStoreUnavailable(err)).toBe(true);
    expect(String(err)).toMatch(/gone\.db was deleted or replaced while this agent had it open/);
    await expect(openStore({ url: `file:${path}` })).rejects.toThrow(
      /gone\.db is missing but its -wal\/-shm files are there: it was deleted or moved while in use/,
    );
    expect(existsSync(path)).toBe(false);
  });

  it("reads the path out of file: URLs", () => {
    expect(filePathOf("file:data/a.db")).toBe("data/a.db");
    expect(filePathOf("file:/var/lib/aideazz/a.db")).toBe("/var/lib/aideazz/a.db");
    expect(filePathOf("file:///var/lib/a%20b.db?mode=rw")).toBe("/var/lib/a b.db");
    expect(filePathOf("libsql://db.example.com")).toBeUndefined();
  });
});

describe("migrations", () => {
  it("have unique versions and non-empty statements", () => {
    const versions = migrations.map((m) => m.version);
    expect(new Set(versions).size).toBe(versions.length);
    for (const m of migrations) expect(m.statements.length).toBeGreaterThan(0);
  });
});

describe("store after lock timeouts", () => {
  it("a write batch that timed out on the lock does not poison later commits on the same client", async () => {
    const { spawn } = await import("node:child_process");
    const { fileURLToPath } = await import("node:url");
    const path = join(dir, "busy.db");
    const store = await openStore({ url: `file:${path}`, busyTimeoutMs: 200 });
    opened.push(store);
    await store.client.execute("CREATE TABLE t (x INTEGER)");
    const holder = spawn(process.execPath, [fileURLToPath(new URL("../support/hold-lock.mjs", import.meta.url)), path], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    await new Promise((resolve) => holder.stdout!.once("data", resolve));
    await expect(store.client.batch(["INSERT INTO t VALUES (1)"], "write")).rejects.toThrow(/SQLITE_BUSY/);
    holder.stdin!.end();
    await new Promise((resolve) => holder.on("exit", resolve));
    for (let i = 2; i <= 5; i++) await store.client.batch([{ sql: "INSERT INTO t VALUES (?)", args: [i] }], "write");
    const rs = await store.client.execute("SELECT count(*) AS n FROM t");
    expect(Number(rs.rows[0]!["n"])).toBe(4);
  });
});
