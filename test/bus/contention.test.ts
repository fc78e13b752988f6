// Lock contention (RELIABILITY.md C6): seven processes write to one database for 20 s — four producers making
// many small publish transactions, three consumers claiming, acking and writing from their handlers. With the
// busy timeout on every connection and every write a single BEGIN IMMEDIATE batch, no SQLITE_BUSY reaches a
// caller.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { openStore } from "../../src/store/mod.ts";
import { waitFor } from "./contract.ts";
import { count, freshDb, type TestDb } from "./helpers.ts";
import { lastJson, startWorker, type Worker } from "./spawn.ts";

describe("bus under lock contention", () => {
  let db: TestDb;
  const workers: Worker[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) w.child.kill("SIGKILL");
    await db?.cleanup();
  });

  it("C6: busy timeout and synchronous hold on every pooled connection, also ones opened during a transaction", async () => {
    db = await freshDb();
    const store = await openStore({
      url: `file:${join(db.dir, "c6.db")}`,
      synchronous: "full",
      busyTimeoutMs: 5_000,
    });
    try {
      const read = async () => {
        const [sync, busy] = await Promise.all([
          store.client.execute("PRAGMA synchronous"),
          store.client.execute("PRAGMA busy_timeout"),
        ]);
        return [Number(Object.values(sync.rows[0]!)[0]), Number(Object.values(busy.rows[0]!)[0])];
      };
      const tx = await store.client.transaction("write"); // holds one connection: the reads open others
      const during = await Promise.all(Array.from({ length: 4 }, read));
      await tx.rollback();
      const after = await read();
      for (const v of [...during, after]) expect(v).toEqual([2, 5_000]);
    } finally {
      store.close();
    }
  });

  it(
    "7 processes writing for 20 s: zero lock errors reach callers, everything published is handled",
    async () => {
      db = await freshDb();
      await db.store.client.execute(`CREATE TABLE test_handled (msg_id INTEGER NOT NULL, okey TEXT NOT NULL,
      p INTEGER NOT NULL, n INTEGER NOT NULL, fence INTEGER NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL,
      at INTEGER NOT NULL)`);
      await createSqliteBus(db.store).subscribe("work", "g");
      const seconds = Number(process.env["AIDEAZZ_CONTENTION_S"] ?? 20);
      const started = Date.now();
      const producers = Array.from(
        { length: 4 },
        (_, p) =>
          startWorker("test/bus/worker-producer.ts", [db.path, p, 10_000_000, 50, 4, 2, seconds * 1_000]),
      );
      const consumers = Array.from(
        { length: 3 },
        () => startWorker("test/bus/worker-consumer.ts", [db.path, 30_000, 32]),
      );
      workers.push(...producers, ...consumers);
      const produced = await Promise.all(producers.map(async (w) => {
        const r = await w.done;
        expect(r.code).toBe(0);
        return lastJson<{ published: number; errors: Record<string, number> }>(r.stdout);
      }));
      const elapsed = (Date.now() - started) / 1_000;
      const total = produced.reduce((a, r) => a + r.published, 0);
      await waitFor(
        async () => (await count(db.store, "bus_deliveries")) === 0,
        "backlog drained",
        60_000,
      );
      for (const w of consumers) w.child.kill("SIGTERM");
      const consumed = await Promise.all(
        consumers.map(async (w) => lastJson<{ handled: number; lockErrors: number }>((await w.done).stdout)),
      );

      expect(produced.map((r) => r.errors)).toEqual([{}, {}, {}, {}]);
      expect(consumed.map((r) => r.lockErrors)).toEqual([0, 0, 0]);
      expect(await count(db.store, "SELECT count(DISTINCT msg_id) FROM test_handled")).toBe(total);
      expect(
        await count(db.store, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"),
      ).toBe(0);
      console.log(
        `contention: 7 processes for ${elapsed.toFixed(1)} s; ${total} messages in ~${
          Math.round(total / 4)
        } publish ` +
          `transactions; handled ${
            consumed.map((r) => r.handled).join("+")
          } (each with its own write); lock errors 0`,
      );
    },
    150_000,
  );
});
