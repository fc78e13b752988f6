// The contract on the SQLite bus, plus what only SQLite has: a database-level failure inside a batch, rows
// purged after acks, and wake-ups across two connections to one file.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { runBusContract, sleep, waitFor } from "./contract.ts";

async function freshStore(): Promise<{ store: Store; cleanup(): Promise<void> }> {
  const tmp = await tempDir("aideazz-bus-");
  const store = await openStore({ url: `file:${join(tmp.dir, "bus.db")}` });
  await migrate(store.client);
  return { store, cleanup: async () => (store.close(), await tmp.cleanup()) };
}

runBusContract("sqlite", async ({ now, random }) => {
  const { store, cleanup } = await freshStore();
  const bus = createSqliteBus(store, { now, random, wake: { fallbackMs: 10, pollMinMs: 2, pollMaxMs: 10 } });
  return { bus, cleanup };
});

describe("sqlite bus", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function setup() {
    const s = await freshStore();
    cleanups.push(s.cleanup);
    return s.store;
  }
  const count = async (store: Store, table: string) =>
    Number((await store.client.execute(`SELECT count(*) AS n FROM ${table}`)).rows[0]!["n"]);

  it("a batch that fails inside the database writes nothing", async () => {
    const store = await setup();
    const bus = createSqliteBus(store);
    await bus.subscribe("t", "g");
    await store.client.execute(
      "CREATE TRIGGER boom BEFORE INSERT ON bus_messages WHEN NEW.topic = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
    );
    await expect(bus.publish([
      { topic: "t", key: "a", payload: 1, idempotencyKey: "k1" },
      { topic: "boom", key: "a", payload: 2 },
    ])).rejects.toThrow(/boom/);
    expect(await count(store, "bus_messages")).toBe(0);
    expect(await count(store, "bus_deliveries")).toBe(0);
    // The idempotency key was not taken by the failed batch.
    expect(await bus.publish([{ topic: "t", key: "a", payload: 1, idempotencyKey: "k1" }])).toEqual([{
      id: expect.any(Number),
      duplicate: false,
    }]);
    await bus.close();
  });

  it("acked messages leave the hot tables; keyed ones stay for dedup, dead-lettered ones until purged", async () => {
    const store = await setup();
    const bus = createSqliteBus(store);
    await bus.subscribe("t", "g");
    await bus.publish([
      { topic: "t", key: "a", payload: 1 },
      { topic: "t", key: "b", payload: 2, idempotencyKey: "wamid.1" },
      { topic: "t", key: "c", payload: "poison" },
    ]);
    const c = bus.consume({
      topic: "t",
      group: "g",
      maxAttempts: 1,
      handler: (d) => d.payload === "poison" ? Promise.reject(new Error("bad")) : Promise.resolve(),
    });
    await waitFor(async () => (await count(store, "bus_deliveries")) === 0, "all settled");
    await c.stop();
    expect(await count(store, "bus_messages")).toBe(2); // the keyed one and the dead letter's
    expect(await bus.purgeDeadLetters()).toBe(1);
    expect(await count(store, "bus_messages")).toBe(1);
    expect(
      (await bus.publish([{ topic: "t", key: "b", payload: 2, idempotencyKey: "wamid.1" }]))[0]!.duplicate,
    ).toBe(true);
    const fk = await store.client.execute("PRAGMA foreign_key_check");
    expect(fk.rows).toEqual([]);
    await bus.close();
  });

  it("a consumer on another connection is woken by its topic's wake file, not by polling or by other topics", async () => {
    const store = await setup();
    const other = await openStore({ url: store.url });
    cleanups.push(() => Promise.resolve(other.close()));
    const producer = createSqliteBus(store);
    // Fallback poll of a minute: only the file notification can deliver within the test's time.
    const consumerBus = createSqliteBus(other, { wake: { fallbackMs: 60_000 } });
    await consumerBus.subscribe("t", "g");
    const latencies: number[] = [];
    const c = consumerBus.consume({
      topic: "t",
      group: "g",
      handler: (d) => {
        latencies.push(Date.now() - (d.payload as number));
        return Promise.resolve();
      },
    });
    await sleep(100); // the consumer has looked once and is idle now
    for (let i = 0; i < 5; i++) {
      await producer.publish([{ topic: "t", key: "k", payload: Date.now() }]);
      await waitFor(() => latencies.length === i + 1, `message ${i}`, 2_000);
      await sleep(30);
    }
    expect(Math.max(...latencies)).toBeLessThan(500);
    await c.stop();
    await consumerBus.close();
  });

  it("without a file watch, an idle consumer on another connection still finds new work by adaptive polling", async () => {
    const store = await setup();
    const other = await openStore({ url: store.url });
    cleanups.push(() => Promise.resolve(other.close()));
    const producer = createSqliteBus(store);
    const consumerBus = createSqliteBus(other, { wake: { watch: false, pollMinMs: 2, pollMaxMs: 50 } });
    await consumerBus.subscribe("t", "g");
    const latencies: number[] = [];
    const c = consumerBus.consume({
      topic: "t",
      group: "g",
      handler: (d) => {
        latencies.push(Date.now() - (d.payload as number));
        return Promise.resolve();
      },
    });
    await sleep(300); // idle long enough to back off to the 50 ms ceiling
    await producer.publish([{ topic: "t", key: "k", payload: Date.now() }]);
    await waitFor(() => latencies.length === 1, "the message", 2_000);
    expect(latencies[0]).toBeLessThan(500);
    await c.stop();
    await consumerBus.close();
  });
});
