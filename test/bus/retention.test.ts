// Retention: finished rows purged on schedule; the -wal file stays bounded under a reader that never lets go
// (RELIABILITY.md C7).
import { stat } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createRetention, createSendLedger, createSqliteBus } from "../../src/bus/mod.ts";
import { fakeClock, sleep, waitFor } from "./contract.ts";
import { count, freshDb, type TestDb } from "./helpers.ts";
import { lastJson, startWorker } from "./spawn.ts";

const DAY = 86_400_000;

describe("bus retention", () => {
  let db: TestDb;
  afterEach(async () => await db?.cleanup());

  it("keeps keyed messages for the dedup window, then purges them with old dead letters and ledger rows", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now });
    const retention = createRetention(db.store, { now: clock.now });
    await bus.subscribe("t", "g");
    await bus.publish([
      { topic: "t", key: "a", payload: 1, idempotencyKey: "wamid.A" },
      { topic: "t", key: "b", payload: "poison" },
      { topic: "nobody-listens", key: "c", payload: 3 },
    ]);
    await createSendLedger(db.store, { now: clock.now }).begin("reply-1", 1);
    const c = bus.consume({
      topic: "t",
      group: "g",
      maxAttempts: 1,
      handler: (d) => d.payload === "poison" ? Promise.reject(new Error("bad")) : Promise.resolve(),
    });
    await waitFor(async () => (await count(db.store, "bus_deliveries")) === 0, "settled");
    await c.stop();
    // The unkeyed acked one and the one nobody subscribed to are gone already; keyed and dead-lettered stay.
    expect(await count(db.store, "bus_messages")).toBe(2);
    expect(await retention.runOnce()).toMatchObject({ messages: 0, deadLetters: 0, ledger: 0 });
    clock.advance(8 * DAY + 1); // dedup window and ledger rows
    expect(await retention.runOnce()).toMatchObject({ messages: 1, deadLetters: 0, ledger: 1 });
    expect(
      (await bus.publish([{ topic: "t", key: "a", payload: 1, idempotencyKey: "wamid.A" }]))[0]!.duplicate,
    ).toBe(false);
    clock.advance(30 * DAY);
    expect(await retention.runOnce()).toMatchObject({ deadLetters: 1 });
    expect(await count(db.store, "bus_dead_letters")).toBe(0);
    // The message of the purged dead letter went with it; the re-published keyed one is still in its window.
    expect(await count(db.store, "bus_messages")).toBe(1);
    await bus.close();
  });

  it("copies commits into the database file every checkpointIntervalMs (no agent checkpoints on commit)", async () => {
    db = await freshDb();
    const bus = createSqliteBus(db.store);
    await bus.subscribe("t", "g"); // kept until consumed
    const dbSize = () => stat(db.path).then((s) => s.size);
    const payload = { text: "x".repeat(2_000) };
    for (let i = 0; i < 60; i++) {
      await bus.publish(Array.from({ length: 50 }, (_, j) => ({ topic: "t", key: `k${j}`, payload })));
    }
    // ~6 MB committed: past SQLite's default auto-checkpoint (1,000 pages), but no commit copied it over.
    const before = await dbSize();
    expect(before).toBeLessThan(1024 * 1024);
    const retention = createRetention(db.store, { checkpointIntervalMs: 50 });
    retention.start();
    await waitFor(async () => (await dbSize()) > before + 1024 * 1024, "the checkpoint", 5_000);
    await retention.stop();
    await bus.close();
  });

  it("C7: under steady writes and a reader that is always present, the -wal file stays under its bound", async () => {
    db = await freshDb();
    const bus = createSqliteBus(db.store);
    await bus.subscribe("t", "g");
    const consumer = bus.consume({
      topic: "t",
      group: "g",
      concurrency: 64,
      handler: () => Promise.resolve(),
    });
    const walSize = () => stat(`${db.path}-wal`).then((s) => s.size, () => 0);
    const payload = { text: "x".repeat(2_000) };
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await bus.publish(Array.from({ length: 20 }, (_, i) => ({ topic: "t", key: `k${i}`, payload })));
        await sleep(10); // ~2,000 messages/s of 2 KB
      }
    })();
    const reader = startWorker("test/bus/worker-reader.ts", [db.path, 300, 7_000]);
    // Without retention the WAL cannot be reset while a reader is always present: it grows.
    await sleep(3_000);
    const starved = await walSize();
    // The bound: walMaxBytes plus what the writer adds in one interval and one reader hold (the TRUNCATE
    // checkpoint waits for the readers present when it starts).
    const bound = 4 * 1024 * 1024;
    expect(starved).toBeGreaterThan(bound);

    const retention = createRetention(db.store, { walMaxBytes: 1024 * 1024, intervalMs: 100 });
    await retention.runOnce();
    retention.start();
    const samples: number[] = [];
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      samples.push(await walSize());
      await sleep(50);
    }
    await retention.stop();
    writing = false;
    await writer;
    await consumer.stop();
    const { reads } = lastJson<{ reads: number[] }>((await reader.done).stdout);
    console.log(
      `C7: wal ${starved} bytes after 3 s without checkpoints; with retention max ${
        Math.max(...samples)
      } bytes over ${samples.length} samples; reader transactions ${reads}`,
    );
    expect(Math.max(...samples)).toBeLessThan(bound);
    expect(reads.every((n) => n >= 10)).toBe(true);
    expect(await count(db.store, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"))
      .toBe(0);
    await bus.close();
  });
});
