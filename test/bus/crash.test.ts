// Crash tests with real OS processes that share nothing but the database file: producers and consumers are
// killed with SIGKILL at random points while 24,000 messages flow (RELIABILITY.md C1, C4, C8), and a poison
// message is retried and dead-lettered while other chats flow (C3).
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteBus } from "../../src/bus/mod.ts";
import type { Store } from "../../src/store/mod.ts";
import { sleep, waitFor } from "./contract.ts";
import { count, freshDb, type TestDb } from "./helpers.ts";
import { lastJson, startWorker, type Worker } from "./spawn.ts";

const TEST_TABLES = [
  `CREATE TABLE test_handled (msg_id INTEGER NOT NULL, okey TEXT NOT NULL, p INTEGER NOT NULL, n INTEGER NOT NULL,
     fence INTEGER NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL, at INTEGER NOT NULL)`,
  "CREATE TABLE test_attempts (msg_id INTEGER NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL)",
];

async function prepare(db: TestDb) {
  await db.store.client.batch(TEST_TABLES, "write");
  await createSqliteBus(db.store).subscribe("work", "g");
}

/** Seeded PRNG (mulberry32), so a failing chaos schedule can be replayed. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function handledRows(store: Store) {
  const rs = await store.client.execute("SELECT msg_id, okey, p, n, fence FROM test_handled ORDER BY rowid");
  return rs.rows.map((r) => ({
    id: Number(r["msg_id"]),
    key: String(r["okey"]),
    p: Number(r["p"]),
    n: Number(r["n"]),
    fence: Number(r["fence"]),
  }));
}

describe("bus under kill -9", () => {
  let db: TestDb;
  const workers: Worker[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) w.child.kill("SIGKILL");
    await db?.cleanup();
  });

  it(
    "kill -9 of producers and consumers at random points: none lost, duplicates only from lost leases, per-key order kept",
    async () => {
      db = await freshDb();
      await prepare(db);
      const seed = Number(process.env["AIDEAZZ_CHAOS_SEED"] ?? Date.now() % 100_000);
      const random = prng(seed);
      const PRODUCERS = 2;
      const PER_PRODUCER = 12_000;
      const KEYS = 200;
      const TOTAL = PRODUCERS * PER_PRODUCER;
      const LEASE_MS = 1_000;
      const producer = (p: number) =>
        startWorker("test/bus/worker-producer.ts", [db.path, p, PER_PRODUCER, KEYS, 40, 20]);
      const consumer = () => startWorker("test/bus/worker-consumer.ts", [db.path, LEASE_MS, 16, 2]);
      const slots: { role: string; worker: Worker; finished: boolean }[] = [
        ...Array.from(
          { length: PRODUCERS },
          (_, p) => ({ role: `producer:${p}`, worker: producer(p), finished: false }),
        ),
        ...Array.from({ length: 3 }, () => ({ role: "consumer", worker: consumer(), finished: false })),
      ];
      workers.push(...slots.map((s) => s.worker));
      for (const s of slots.filter((s) => s.role.startsWith("producer"))) {
        void s.worker.done.then((r) => (s.finished ||= r.code === 0));
      }

      const kills = { producer: 0, consumer: 0, whileFlowing: 0 };
      const chaosEnd = Date.now() + 12_000;
      while (Date.now() < chaosEnd) {
        await sleep(150 + random() * 450);
        const alive = slots.filter((s) => !s.finished);
        const victim = alive[Math.floor(random() * alive.length)];
        if (!victim) break;
        victim.worker.child.kill("SIGKILL");
        await victim.worker.done;
        kills[victim.role === "consumer" ? "consumer" : "producer"]++;
        if (slots.some((s) => s.role !== "consumer" && !s.finished)) kills.whileFlowing++;
        if (victim.finished) continue; // it had just finished on its own
        await sleep(random() * 200);
        const p = victim.role.startsWith("producer") ? Number(victim.role.split(":")[1]) : -1;
        victim.worker = p >= 0 ? producer(p) : consumer();
        workers.push(victim.worker);
        if (p >= 0) void victim.worker.done.then((r) => (victim.finished ||= r.code === 0));
      }
      // Let the producers finish, then every message be handled to its ack.
      await waitFor(
        () => slots.every((s) => s.finished || s.role === "consumer"),
        "producers to finish",
        60_000,
      );
      await waitFor(
        async () =>
          (await count(db.store, "bus_deliveries")) === 0 &&
          (await count(db.store, "SELECT count(DISTINCT p * 1000000 + n) FROM test_handled")) === TOTAL,
        "every message handled and acked",
        90_000,
      );
      const consumers = slots.filter((s) => s.role === "consumer");
      // One restarted at the end of the chaos may still be starting: SIGTERM would end it without its summary.
      await Promise.all(consumers.map((s) => s.worker.ready));
      for (const s of consumers) s.worker.child.kill("SIGTERM");
      const summaries = await Promise.all(
        consumers.map(async (s) =>
          lastJson<{ leasedAfterStop: number; lockErrors: number }>((await s.worker.done).stdout)
        ),
      );

      const rows = await handledRows(db.store);
      // None lost: every (producer, n) handled; each published exactly once (idempotency keys over restarts).
      const byMessage = new Map<number, { p: number; n: number; fences: number[] }>();
      for (const r of rows) {
        const m = byMessage.get(r.id) ?? { p: r.p, n: r.n, fences: [] };
        m.fences.push(r.fence);
        byMessage.set(r.id, m);
      }
      expect(byMessage.size).toBe(TOTAL);
      expect(new Set([...byMessage.values()].map((m) => `${m.p}-${m.n}`)).size).toBe(TOTAL);
      // Duplicates only from lost leases: each repeated handling ran under a newer fence.
      const duplicates = rows.length - byMessage.size;
      const sameFence = [...byMessage.values()].filter((m) => new Set(m.fences).size !== m.fences.length);
      expect(sameFence).toEqual([]);
      // Per-key order: a key's handler calls (in commit order) never go back to an earlier message.
      const last = new Map<string, number>();
      const violations: string[] = [];
      for (const r of rows) {
        if (r.n < (last.get(r.key) ?? -1)) violations.push(`${r.key}: ${r.n} after ${last.get(r.key)}`);
        last.set(r.key, Math.max(r.n, last.get(r.key) ?? -1));
      }
      expect(violations).toEqual([]);
      expect(summaries.map((s) => s.leasedAfterStop)).toEqual([0, 0, 0]);
      expect(await count(db.store, "bus_dead_letters")).toBe(0);
      expect(
        await count(db.store, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"),
      ).toBe(0);
      expect((await db.store.client.execute("PRAGMA foreign_key_check")).rows).toEqual([]);
      console.log(
        `kill -9 chaos (seed ${seed}): ${TOTAL} messages; kills: ${kills.producer} producers, ${kills.consumer} consumers ` +
          `(${kills.whileFlowing} while producers were still publishing); ${duplicates} handler-visible duplicates ` +
          `(all under a newer fence, i.e. lost leases), 0 lost, 0 order violations, lock errors seen by consumers: ` +
          `${summaries.reduce((a, s) => a + s.lockErrors, 0)}`,
      );
    },
    180_000,
  );

  it(
    "a poison message: exact attempts with growing delays, then a dead letter with the error; other chats flow",
    async () => {
      db = await freshDb();
      await prepare(db);
      const bus = createSqliteBus(db.store);
      const consumerWorker = startWorker("test/bus/worker-consumer.ts", [db.path, 5_000, 8]);
      workers.push(consumerWorker);
      const [poison] = await bus.publish([{ topic: "work", key: "chat-p", payload: { poison: true } }]);
      await bus.publish(
        Array.from({ length: 5 }, (_, n) => ({ topic: "work", key: "chat-p", payload: { p: 9, n } })),
      );
      for (let n = 0; n < 200; n += 20) {
        await bus.publish(
          Array.from(
            { length: 20 },
            (_, i) => ({ topic: "work", key: `chat-${(n + i) % 10}`, payload: { p: 1, n: n + i } }),
          ),
        );
        await sleep(20);
      }
      await waitFor(async () => (await bus.deadLetters()).length === 1, "the dead letter", 20_000);
      await waitFor(
        async () => (await count(db.store, "test_handled")) === 205,
        "all other messages",
        20_000,
      );
      consumerWorker.child.kill("SIGTERM");
      await consumerWorker.done;

      const attempts = (await db.store.client.execute("SELECT attempt, at FROM test_attempts ORDER BY at"))
        .rows
        .map((r) => ({ attempt: Number(r["attempt"]), at: Number(r["at"]) }));
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5]);
      const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
      // retryBaseMs 100, equal jitter: attempt n+1 comes at least 50 × 2^(n-1) ms after attempt n.
      gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(50 * 2 ** i - 5));
      gaps.forEach((gap, i) => expect(gap).toBeLessThan(100 * 2 ** i + 500));
      expect(gaps[3]!).toBeGreaterThan(gaps[0]!);
      const [dead] = await bus.deadLetters();
      expect(dead).toMatchObject({
        id: poison!.id,
        key: "chat-p",
        attempts: 5,
        lastError: "Error: poison pill: cannot parse this update",
      });
      // Other chats flowed while the poison message waited; its own chat continued after the dead letter.
      const handled = await handledRows(db.store);
      const others = (await db.store.client.execute("SELECT min(at) AS first FROM test_handled WHERE p = 1"))
        .rows[0]!;
      expect(Number(others["first"])).toBeLessThan(attempts[4]!.at);
      const chatP = (await db.store.client.execute("SELECT min(at) AS first FROM test_handled WHERE p = 9"))
        .rows[0]!;
      expect(Number(chatP["first"])).toBeGreaterThanOrEqual(dead!.deadAt);
      expect(handled.filter((r) => r.key === "chat-p").map((r) => r.n)).toEqual([0, 1, 2, 3, 4]);
      console.log(
        `poison: attempts at +${gaps.join(", +")} ms, then dead-lettered; 205 other messages handled`,
      );
    },
    60_000,
  );
});
