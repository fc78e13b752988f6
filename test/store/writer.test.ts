// The group writer (src/store/writer.ts): every write of a process through one connection, grouped into one
// transaction with a savepoint per caller, waiting for the lock without blocking the event loop.
// Runs under Node (vitest) and under Deno with the other store tests.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { statSync } from "node:fs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type InStatement,
  isStoreUnavailable,
  openStore,
  selectRows,
  type Store,
  type StoreOptions,
} from "../../src/store/mod.ts";
import {
  createGroupWriter,
  isManyStatements,
  isWriteSql,
  parameters,
  returnsOneRow,
  type WriterOptions,
} from "../../src/store/writer.ts";
import { ConnectionPool } from "@libsql/client/sqlite3";
import { databasePrototype, statementPrototype } from "../support/libsql.ts";
import { runSqldTests, type Sqld, startSqld } from "../support/sqld.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
const opened: Store[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir("aideazz-writer-")));
afterEach(async () => {
  for (const s of opened.splice(0)) s.close();
  await cleanup();
});

async function open(opts: Pick<StoreOptions, "busyTimeoutMs" | "observeLock"> = {}): Promise<Store> {
  const store = await openStore({ url: `file:${join(dir, "w.db")}`, ...opts });
  opened.push(store);
  await store.client.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE, b BLOB)");
  return store;
}

/** Another process holding the write lock until `release()`, or for `ms`. */
async function holdLock(path: string, ms?: number) {
  const args = [fileURLToPath(new URL("../support/hold-lock.mjs", import.meta.url)), path];
  if (ms !== undefined) args.push(String(ms));
  const holder = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((resolve) => holder.on("exit", resolve));
  await new Promise((resolve) => holder.stdout!.once("data", resolve));
  return {
    exited,
    release: async () => {
      holder.stdin!.end();
      await exited;
    },
  };
}

async function waitUntil(ok: () => boolean) {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(ok()).toBe(true);
}

/** A group writer on its own WAL connection to `file` in the test's directory; counts connections out and back. */
function walWriter(file: string, opts: Pick<WriterOptions, "syncWal"> & Partial<WriterOptions>) {
  const pool = new ConnectionPool(join(dir, file), { timeout: 0 }, 1);
  const connections = { opened: 0, released: 0 };
  const writer = createGroupWriter({
    open: () => {
      const db = pool.acquireSync();
      connections.opened++;
      db.exec("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=0");
      return db;
    },
    release: (db) => {
      connections.released++;
      pool.release(db);
    },
    busyTimeoutMs: 5_000,
    ...opts,
  });
  return {
    writer,
    connections,
    close: () => {
      writer.close();
      pool.close();
    },
  };
}

const count = async (s: Store) => Number((await s.client.execute("SELECT count(*) AS n FROM t")).rows[0]!["n"]);

describe("group writer", () => {
  it("commits concurrent callers together; a failing caller undoes only its own statements", async () => {
    const store = await open();
    const c = store.client;
    const results = await Promise.allSettled([
      c.batch([{ sql: "INSERT INTO t (v) VALUES (?)", args: ["a"] }, { sql: "INSERT INTO t (v) VALUES (?)", args: ["b"] }], "write"),
      c.batch([{ sql: "INSERT INTO t (v) VALUES (?)", args: ["c"] }, { sql: "INSERT INTO t (v) VALUES (?)", args: ["a"] }], "write"),
      c.execute({ sql: "INSERT INTO t (v) VALUES (?) RETURNING id", args: ["d"] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const failed = (results[1] as PromiseRejectedResult).reason as { code: string; statementIndex: number };
    expect(failed.code).toBe("SQLITE_CONSTRAINT");
    expect(failed.statementIndex).toBe(1);
    const rows = (await c.execute("SELECT v FROM t ORDER BY id")).rows.map((r) => r["v"]);
    expect(rows).toEqual(["a", "b", "d"]); // "c" rolled back with its caller's failing statement
  });

  it("returns rows as the client does: by index and by name, integers as numbers, blobs as ArrayBuffer", async () => {
    const store = await open();
    const rs = await store.client.execute({
      sql: "INSERT INTO t (v, b) VALUES (?, ?) RETURNING id, v, b",
      args: ["x", new Uint8Array([1, 2, 3]).buffer],
    });
    const row = rs.rows[0]!;
    expect([row[0], row["id"], row["v"]]).toEqual([1, 1, "x"]);
    expect([...new Uint8Array(row["b"] as ArrayBuffer)]).toEqual([1, 2, 3]);
    expect(rs.columns).toEqual(["id", "v", "b"]);
    const plain = await store.client.execute({ sql: "UPDATE t SET v = ? WHERE id = ?", args: ["y", 1] });
    expect(plain.rowsAffected).toBe(1);
  });

  it("waits for another process's lock without blocking the event loop, then commits", async () => {
    const store = await open();
    const lock = await holdLock(join(dir, "w.db"));
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const write = store.client.execute({ sql: "INSERT INTO t (v) VALUES (?)", args: ["late"] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ticksWhileLocked = ticks;
    await lock.release();
    await write;
    clearInterval(ticker);
    // SQLite's busy handler would have slept the thread for the whole 300 ms (no tick at all).
    expect(ticksWhileLocked).toBeGreaterThanOrEqual(10);
    expect(await count(store)).toBe(1);
  });

  it("reports each transaction's wait for another process's lock and how long it then held the lock", async () => {
    const seen: { waitMs: number; holdMs: number }[] = [];
    const { writer, close } = walWriter("o.db", {
      syncWal: () => Promise.resolve(),
      observe: (lock) => seen.push(lock),
    });
    try {
      await writer.write(["CREATE TABLE t (v INTEGER)"], { batch: true });
      expect(seen).toHaveLength(1);
      expect(seen[0]!.waitMs).toBeLessThan(50); // nobody else held it
      const lock = await holdLock(join(dir, "o.db"));
      const write = writer.write(["INSERT INTO t VALUES (1)"], { batch: true });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await lock.release();
      await write;
      expect(seen).toHaveLength(2);
      expect(seen[1]!.waitMs).toBeGreaterThanOrEqual(190);
      // The insert alone, not the 200 ms wait before it (with room for a test process descheduled on a busy machine).
      expect(seen[1]!.holdMs).toBeLessThan(150);
      // Held for a statement that counts to 3,000,000 (~0.3 s): the hold is that statement's time, not the wait.
      const counting = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c";
      const started = performance.now();
      await writer.write([`INSERT INTO t ${counting}`], { batch: true });
      const took = performance.now() - started;
      expect(seen).toHaveLength(3);
      expect(seen[2]!.holdMs).toBeGreaterThan(took / 2);
      expect(seen[2]!.holdMs).toBeLessThanOrEqual(took);
      expect(seen[1]!.holdMs).toBeLessThan(seen[2]!.holdMs);
    } finally {
      close();
    }
  });

  it("fails a write with SQLITE_BUSY (store unavailable) after the busy timeout, and later writes commit", async () => {
    const waits: number[] = [];
    const store = await open({ busyTimeoutMs: 150, observeLock: ({ waitMs }) => waits.push(waitMs) });
    const lock = await holdLock(join(dir, "w.db"));
    const err = await store.client.batch(["INSERT INTO t (v) VALUES ('x')"], "write").catch((e: unknown) => e);
    expect(isStoreUnavailable(err)).toBe(true);
    expect(String(err)).toMatch(/SQLITE_BUSY|locked/);
    await lock.release();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await store.client.batch(["INSERT INTO t (v) VALUES ('y')"], "write");
    expect(await count(store)).toBe(1);
    // The write that gave up is not the next one's wait: that one starts its own clock.
    expect(waits.at(-1)).toBeLessThan(150);
  });

  it("resolves a durable batch only after a WAL flush that began after its commit; one flush serves many", async () => {
    const flushes: { done: () => void }[] = [];
    const { writer, close } = walWriter("d.db", {
      syncWal: () => new Promise<void>((done) => flushes.push({ done })),
    });
    try {
      await writer.write(["CREATE TABLE t (v TEXT)"], { batch: true });
      expect(flushes).toHaveLength(0); // not durable: no flush
      const settled: string[] = [];
      const first = writer.write(["INSERT INTO t VALUES ('a')"], { batch: true, durable: true }).then(() => settled.push("a"));
      await waitUntil(() => flushes.length === 1);
      // Committed while the first flush runs: they wait for the next one, which serves both.
      const later = ["b", "c"].map((v) =>
        writer.write([`INSERT INTO t VALUES ('${v}')`], { batch: true, durable: true }).then(() => settled.push(v))
      );
      await new Promise((r) => setTimeout(r, 20));
      expect(writer.read("SELECT count(*) AS n FROM t").rows[0]!["n"]).toBe(3); // committed, visible, not flushed
      expect(settled).toEqual([]);
      flushes[0]!.done();
      await first;
      expect(settled).toEqual(["a"]);
      await waitUntil(() => flushes.length === 2);
      flushes[1]!.done();
      await Promise.all(later);
      expect(settled.sort()).toEqual(["a", "b", "c"]);
      expect(flushes).toHaveLength(2);
    } finally {
      close();
    }
  });

  it("a durable batch whose WAL flush fails is rejected as store unavailable (the webhook answers 503)", async () => {
    const { writer, close } = walWriter("f.db", {
      syncWal: () => Promise.reject(Object.assign(new Error("EIO"), { code: "SQLITE_IOERR_FSYNC" })),
    });
    try {
      const err = await writer.write(["CREATE TABLE t (v)"], { batch: true, durable: true }).catch((e: unknown) => e);
      expect(isStoreUnavailable(err)).toBe(true);
    } finally {
      close();
    }
  });

  it("hands back to its pool the connection it closes", async () => {
    const { writer, connections, close } = walWriter("r.db", { syncWal: () => Promise.resolve() });
    try {
      await writer.write(["CREATE TABLE t (v)"], { batch: true });
      expect(connections).toEqual({ opened: 1, released: 0 });
      writer.close();
      expect(connections).toEqual({ opened: 1, released: 1 });
    } finally {
      close();
    }
  });

  it("a durable batch through the store is on disk when it resolves (the real fdatasync of the -wal)", async () => {
    const store = await open();
    await store.durableBatch([{ sql: "INSERT INTO t (v) VALUES (?)", args: ["kept"] }]);
    expect(await count(store)).toBe(1);
  });

  it("routes only writes that can run in a transaction to the writer", () => {
    for (const sql of ["INSERT INTO t VALUES (1)", "  update t set v = 1", "-- c\nDELETE FROM t", "/* x */ REPLACE INTO t VALUES (1)"]) {
      expect(isWriteSql(sql)).toBe(true);
    }
    for (const sql of ["SELECT 1", "PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "CREATE TABLE x (y)"]) {
      expect(isWriteSql(sql)).toBe(false);
    }
  });
});

// Under Deno every native object libsql creates (a prepared statement, the row iterator behind `all()`) leaks
// (`npm run bench -- store`): what an agent does over and over must not create one.
describe("native objects", () => {
  afterEach(() => vi.restoreAllMocks());

  it("knows the SQL that returns at most one row", () => {
    for (
      const sql of [
        "SELECT v FROM t LIMIT 1",
        "SELECT count(*) AS n FROM t\n  LIMIT 1;\n",
        "SELECT v FROM t WHERE v = 'a;b' LIMIT 1",
        "PRAGMA wal_checkpoint(PASSIVE)",
        "INSERT INTO t (v) VALUES (?) RETURNING id",
        "INSERT INTO t (v, b) VALUES ('(', coalesce(?, x'01'))\n  ON CONFLICT (v) DO UPDATE SET b = NULL RETURNING id",
      ]
    ) {
      expect(returnsOneRow(sql), sql).toBe(true);
    }
    for (
      const sql of [
        "SELECT v FROM t LIMIT 10",
        "SELECT v FROM t LIMIT 1 OFFSET 2",
        "SELECT v FROM t WHERE id IN (SELECT id FROM t LIMIT 1)",
        "SELECT v FROM t LIMIT ?",
        "PRAGMA table_info(t)",
        "SELECT v FROM t -- LIMIT 1",
        "SELECT v FROM t; SELECT v FROM t LIMIT 1",
        "INSERT INTO t (v) VALUES (?), (?) RETURNING id",
        "INSERT INTO t (v) VALUES ('a'),('b') RETURNING id",
        "INSERT INTO t (v) VALUES (')'), ('b') RETURNING id",
        "INSERT INTO t (v) SELECT v FROM (VALUES ('a')) JOIN t RETURNING id",
        "INSERT INTO t (v) VALUES (?)",
        "UPDATE t SET v = ? WHERE id = 1 RETURNING id",
        "INSERT INTO t (v) VALUES (1) UNION ALL SELECT 2 RETURNING id",
        "INSERT INTO t (v) VALUES (3) /* c */, (4) RETURNING id",
        `INSERT INTO t (v) VALUES ("it's"), ("x's") RETURNING id`,
      ]
    ) expect(returnsOneRow(sql), sql).toBe(false);
  });

  it("reads a statement ending in LIMIT 1 in one step, without a row iterator, with the same rows", async () => {
    const store = await open();
    await store.client.execute("INSERT INTO t (v, b) VALUES ('a', x'01'), ('b', NULL)");
    const iterate = vi.spyOn(statementPrototype, "iterate");
    const one = await store.client.execute("SELECT id, v, b FROM t ORDER BY id LIMIT 1");
    const none = await store.client.execute({ sql: "SELECT id, v FROM t WHERE v = ? LIMIT 1", args: ["zz"] });
    const count = await store.client.execute("SELECT count(*) AS n FROM t LIMIT 1");
    expect(iterate).not.toHaveBeenCalled();
    expect(one.columns).toEqual(["id", "v", "b"]);
    expect(one.rows.map((r) => [r["id"], r["v"], [...new Uint8Array(r["b"] as ArrayBuffer)]])).toEqual([[1, "a", [1]]]);
    expect(one.rows[0]![1]).toBe("a");
    expect(none.rows).toEqual([]);
    expect(count.rows[0]!["n"]).toBe(2);
    const both = await store.client.execute("SELECT v FROM t ORDER BY id LIMIT 2");
    expect(both.rows.map((r) => r["v"])).toEqual(["a", "b"]);
    expect(iterate).toHaveBeenCalledTimes(1);
  });

  it("knows a statement's parameters: how many positional ones, as SQLite numbers them, or the named ones", () => {
    expect(parameters("SELECT ?, ?")).toBe(2);
    expect(parameters("SELECT ?1, ?3 WHERE x = '?'")).toBe(3);
    expect(parameters("SELECT ?2, ? -- ?9\n")).toBe(3);
    expect(parameters("SELECT j.value ->> '$[1]' FROM json_each(?1) AS j")).toBe(1);
    expect(parameters("SELECT :a, @b, $c, :a, ':d' /* :e */")).toEqual(["a", "b", "c"]);
  });

  it("knows SQL holding more than one statement; a trigger's body is part of its one", () => {
    for (
      const sql of ["SELECT 1; SELECT 2", "INSERT INTO t (v) VALUES ('a');\nDELETE FROM t", "SELECT 1;/* c */ SELECT 2"]
    ) expect(isManyStatements(sql), sql).toBe(true);
    for (
      const sql of [
        "SELECT 1;",
        "SELECT 1; -- done",
        "INSERT INTO t (v) VALUES ('a; b')",
        "/* x */ CREATE TRIGGER d AFTER DELETE ON t BEGIN\n  DELETE FROM u; DELETE FROM w;\nEND",
      ]
    ) expect(isManyStatements(sql), sql).toBe(false);
  });

  it("writes one row and reads what it returns in one step, without a row iterator", async () => {
    const store = await open();
    const iterate = vi.spyOn(statementPrototype, "iterate");
    const sql = "INSERT INTO t (v) VALUES (?) RETURNING id, v";
    const [a] = await store.client.batch([{ sql, args: ["a"] }], "write");
    const b = await store.client.execute({ sql, args: ["b"] });
    expect(iterate).not.toHaveBeenCalled();
    expect([a!.rows.map((r) => [r["id"], r["v"]]), b.rows.map((r) => [r["id"], r["v"]])]).toEqual([
      [[1, "a"]],
      [[2, "b"]],
    ]);
    expect((await store.client.execute("SELECT count(*) AS n FROM t")).rows[0]!["n"]).toBe(2);
  });

  it("selectRows reads several rows as one row of JSON: the same values, without a row iterator", async () => {
    const store = await open();
    await store.client.execute(
      "INSERT INTO t (id, v) VALUES (1, 'a \"quoted\" ü'), (2, NULL), (9007199254740991, 'big')",
    );
    const iterate = vi.spyOn(statementPrototype, "iterate");
    const sql = "SELECT id, v FROM t WHERE id > ?";
    const rows = await selectRows<[number, string | null]>(store.client, { sql, args: [0] }, ["id", "v"]);
    const none = await selectRows(store.client, { sql, args: [Number.MAX_SAFE_INTEGER] }, ["id", "v"]);
    expect(iterate).not.toHaveBeenCalled();
    expect(rows.sort((a, b) => a[0] - b[0])).toEqual([[1, 'a "quoted" ü'], [2, null], [
      Number.MAX_SAFE_INTEGER,
      "big",
    ]]);
    expect(none).toEqual([]);
  });

  it("a passive checkpoint copies the WAL on the writer's connection, preparing nothing after the first", async () => {
    // Spied before the store opens: each connection keeps the `prepare` it was opened with (src/store/open.ts).
    const prepare = vi.spyOn(databasePrototype, "prepare");
    const iterate = vi.spyOn(statementPrototype, "iterate");
    const store = await open();
    const path = join(dir, "w.db");
    await store.checkpoint("passive");
    expect(prepare).toHaveBeenCalledWith("PRAGMA wal_checkpoint(PASSIVE)");
    await store.client.batch(
      Array.from({ length: 200 }, (_, i) => ({ sql: "INSERT INTO t (v) VALUES (?)", args: [`${i}`.repeat(200)] })),
      "write",
    );
    const before = statSync(path).size;
    prepare.mockClear();
    iterate.mockClear();
    for (let i = 0; i < 5; i++) expect(await store.checkpoint("passive")).toBe(true);
    expect(prepare).not.toHaveBeenCalled();
    expect(iterate).not.toHaveBeenCalled();
    expect(statSync(path).size).toBeGreaterThan(before + 40_000);
  });
});

// The busy timeout counts on a steady clock: a wall clock stepped (NTP, a VM restored from a snapshot) while a write
// waits for another process's lock neither holds it past the timeout nor fails it early.
describe("the lock wait and the wall clock", () => {
  const realNow = () => Math.round(performance.timeOrigin + performance.now());
  /** Date.now `offsetMs` away from the real clock from now on. */
  const stepWallClock = (offsetMs: number) => vi.spyOn(Date, "now").mockImplementation(() => realNow() + offsetMs);
  afterEach(() => vi.restoreAllMocks());

  type Outcome = "committed" | "busy" | "waiting" | string;
  const outcomeWithin = (p: Promise<unknown>, ms: number): Promise<Outcome> =>
    Promise.race([
      p.then(() => "committed", (err: unknown) => (isStoreUnavailable(err) ? "busy" : String(err))),
      new Promise<Outcome>((r) => setTimeout(() => r("waiting"), ms)),
    ]);

  it("a wall clock stepped back while a write waits still fails it with SQLITE_BUSY after the busy timeout", async () => {
    const store = await open({ busyTimeoutMs: 300 });
    const lock = await holdLock(join(dir, "w.db")); // a stuck process (or a long backup) holding the lock
    try {
      const write = store.client.execute({ sql: "INSERT INTO t (v) VALUES (?)", args: ["webhook"] });
      await new Promise((r) => setTimeout(r, 50));
      stepWallClock(-60_000);
      expect(await outcomeWithin(write, 2_000)).toBe("busy"); // the webhook answers 503
    } finally {
      await lock.release();
    }
  });

  it("a wall clock stepped forward while a write waits for another process's commit does not fail it", async () => {
    const store = await open({ busyTimeoutMs: 5_000 });
    const lock = await holdLock(join(dir, "w.db"), 150); // another process's transaction: 150 ms
    const write = store.client.execute({ sql: "INSERT INTO t (v) VALUES (?)", args: ["webhook"] });
    await new Promise((r) => setTimeout(r, 30));
    stepWallClock(60_000);
    expect(await outcomeWithin(write, 3_000)).toBe("committed");
    await lock.exited;
    expect(await count(store)).toBe(1);
  });
});

// What libsql alone would run differently from what was written (NULL for a missing argument, an extra one ignored,
// only the first of two statements) and a libSQL server refuses (the scale-out path): the file refuses it too.
const refusedWrites: { name: string; run: (s: Store) => Promise<unknown> }[] = [
  {
    name: "more positional arguments than the statement takes",
    run: (s) => s.client.execute({ sql: "INSERT INTO t (v) VALUES (?1)", args: ["a", "b"] }),
  },
  {
    name: "fewer positional arguments than the statement takes (execute)",
    run: (s) => s.client.execute({ sql: "INSERT INTO t (v, b) VALUES (?, ?)", args: ["a"] }),
  },
  {
    name: "fewer positional arguments than the statement takes (write batch)",
    run: (s) => s.client.batch([{ sql: "INSERT INTO t (v, b) VALUES (?1, ?2)", args: ["a"] }], "write"),
  },
  {
    name: "a named parameter without a value",
    run: (s) => s.client.execute({ sql: "INSERT INTO t (v, b) VALUES (:v, :b)", args: { v: "a" } }),
  },
  {
    name: "a value for a named parameter the statement does not have",
    run: (s) => s.client.execute({ sql: "INSERT INTO t (v) VALUES (:v)", args: { v: "a", b: "x" } }),
  },
  {
    name: "positional arguments for named parameters",
    run: (s) => s.client.execute({ sql: "INSERT INTO t (v) VALUES (:v)", args: ["a"] }),
  },
  {
    name: "named arguments for positional parameters",
    run: (s) => s.client.execute({ sql: "INSERT INTO t (v) VALUES (?)", args: { v: "a" } }),
  },
  {
    name: "two statements in one execute",
    run: (s) => s.client.execute("INSERT INTO t (v) VALUES ('a'); INSERT INTO t (v) VALUES ('b')"),
  },
  {
    name: "two statements in one entry of a durable batch",
    run: (s) =>
      s.durableBatch([
        { sql: "INSERT INTO t (v) VALUES (?1); UPDATE t SET b = x'01' WHERE v = ?1", args: ["a"] } as InStatement,
      ]),
  },
];
const rowsOf = async (s: Store) =>
  (await s.client.execute("SELECT v, b FROM t ORDER BY id")).rows.map((r) => [r["v"], r["b"]]);

describe("a write a libSQL server refuses", () => {
  for (const c of refusedWrites) {
    it(`is refused on a file, nothing committed: ${c.name}`, async () => {
      const store = await open();
      const err = await c.run(store).then(() => undefined, (e: unknown) => e);
      expect(String(err)).toMatch(/SQLITE_(RANGE|MISUSE): (wrong arguments|more than one statement)/);
      expect(isStoreUnavailable(err)).toBe(false); // a bug in the SQL, not an outage to retry
      expect(await rowsOf(store)).toEqual([]);
    });
  }

  it("the statements it takes run: every argument given, named ones with or without their prefix", async () => {
    const store = await open();
    await store.client.execute({ sql: "INSERT INTO t (id, v) VALUES (?1, ?3)", args: [1, "unused", "a"] });
    await store.client.execute({ sql: "INSERT INTO t (v, b) VALUES (:v, @b)", args: { ":v": "b", b: null } });
    await store.client.batch([{ sql: "INSERT INTO t (v) VALUES ('c');", args: [] }], "write");
    expect(await rowsOf(store)).toEqual([["a", null], ["b", null], ["c", null]]);
  });

  describe.runIf(runSqldTests)("on the server too (what the file follows)", () => {
    let sqld: Sqld;
    beforeAll(async () => void (sqld = await startSqld()));
    afterAll(async () => await sqld?.stop());

    for (const c of refusedWrites) {
      it(c.name, async () => {
        const store = await openStore({ url: sqld.url });
        try {
          await store.client.execute("DROP TABLE IF EXISTS t");
          await store.client.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE, b BLOB)");
          const outcome = await c.run(store).then(() => "committed", () => "refused");
          expect({ outcome, written: await rowsOf(store) }).toEqual({ outcome: "refused", written: [] });
        } finally {
          store.close();
        }
      });
    }
  });
});

// A rolling upgrade: the first agent restarted on a new release migrates while the others keep running. SQLite
// re-prepares their cached statements, and a `SELECT *` or `RETURNING *` then returns the new column too.
describe("cached statements after another process changed the schema", () => {
  it("name a column another process added", async () => {
    const agent = await open();
    const migrator = await openStore({ url: `file:${join(dir, "w.db")}` });
    opened.push(migrator);
    await agent.client.execute("INSERT INTO t (v) VALUES ('a')");
    const all = "SELECT * FROM t WHERE v = ?";
    const one = "SELECT * FROM t WHERE v = ? LIMIT 1"; // read with get()
    for (const sql of [all, one]) await agent.client.execute({ sql, args: ["a"] }); // prepared and cached
    await migrator.client.batch(["ALTER TABLE t ADD COLUMN budget TEXT NOT NULL DEFAULT 'unknown'"], "write");
    for (const sql of [all, one]) {
      const rs = await agent.client.execute({ sql, args: ["a"] });
      expect({ columns: rs.columns, row: { ...rs.rows[0] } }, sql).toEqual({
        columns: ["id", "v", "b", "budget"],
        row: { id: 1, v: "a", b: null, budget: "unknown" },
      });
    }
  });
});
