// The contract on the SQLite bus, plus what only SQLite has: a database-level failure inside a batch, rows
// purged after acks, and wake-ups across two connections to one file.
import { createServer } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Bus, createSqliteBus, type Delivery, type Handler } from "../../src/bus/mod.ts";
import { createSqliteQueue } from "../../src/bus/sqlite-queue.ts";
import { createLogger } from "../../src/log.ts";
import { type InStatement, migrate, openStore, type Store } from "../../src/store/mod.ts";
import { statementPrototype } from "../support/libsql.ts";
import { tempDir } from "../support/tmp.ts";
import { fakeClock, runBusContract, sleep, waitFor } from "./contract.ts";
import { lastJson, startWorker } from "./spawn.ts";

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
  /** The queue of `store` with one message on topic "t" for group "g", due at 0. */
  async function oneQueued(store: Store) {
    const bus = createSqliteBus(store, { now: () => 0, wake: { watch: false } });
    await bus.subscribe("t", "g");
    await bus.publish([{ topic: "t", key: "k", payload: 1 }]);
    await bus.close();
    return createSqliteQueue(store.client);
  }

  it("an idle consumer's poll for its next due time, and the stats, create no row iterator (Deno leaks each one)", async () => {
    const store = await setup();
    const q = await oneQueued(store);
    const bus = createSqliteBus(store, { now: () => 5, wake: { watch: false } });
    await bus.subscribe("a", "z");
    const iterate = vi.spyOn(statementPrototype, "iterate");
    try {
      expect(await q.nextAt("t", "g")).toBe(0);
      expect(await q.nextAt("t", "other")).toBeNull();
      expect(await bus.stats()).toEqual([
        { topic: "a", group: "z", ready: 0, inFlight: 0, delayed: 0, oldestAgeMs: null, deadLetters: 0 },
        { topic: "t", group: "g", ready: 1, inFlight: 0, delayed: 0, oldestAgeMs: 5, deadLetters: 0 },
      ]);
      expect(iterate).not.toHaveBeenCalled();
    } finally {
      iterate.mockRestore();
      await bus.close();
    }
  });

  it("a consumer round (claim, ack, retry, dead letter, an ack that publishes) creates no row iterator", async () => {
    const store = await setup();
    const bus = createSqliteBus(store, { now: () => 0, wake: { watch: false } });
    await bus.subscribe("t", "g");
    await bus.subscribe("out", "g2");
    await bus.publish(["a", "b", "c", "d"].map((key) => ({ topic: "t", key, payload: key })));
    await bus.close();
    const q = createSqliteQueue(store.client);
    const base = { topic: "t", group: "g", leaseMs: 60_000, consumer: "c" };
    const iterate = vi.spyOn(statementPrototype, "iterate");
    try {
      const claimed = (await q.cycle({ ...base, now: 1_000, settles: [], claim: 3 })).claimed;
      expect(claimed.map((c) => [c.key, c.fence, c.attempt])).toEqual([["a", 1, 1], ["b", 1, 1], [
        "c",
        1,
        1,
      ]]);
      const [a, b, c] = claimed as [typeof claimed[0], typeof claimed[0], typeof claimed[0]];
      const res = await q.cycle({
        ...base,
        now: 2_000,
        claim: 2,
        settles: [
          {
            kind: "ack",
            key: "a",
            id: a.id,
            fence: 1,
            with: q.ackCommit({ publish: [{ topic: "out", key: "a", payload: 1 }] }),
          },
          { kind: "retry", key: "b", id: b.id, fence: 1, visibleAt: 5_000, error: "later" },
          { kind: "dead", key: "c", id: c.id, fence: 1, error: "broken", attempts: 1 },
          { kind: "ack", key: "c", id: c.id, fence: 7 }, // a lease this group never had
        ],
      });
      expect(res.applied).toEqual([true, true, true, false]);
      expect(res.claimed.map((m) => m.key)).toEqual(["d"]); // b waits until 5,000
      expect(iterate).not.toHaveBeenCalled();
    } finally {
      iterate.mockRestore();
    }
    const rows = (sql: string) =>
      store.client.execute(sql).then((rs) => rs.rows.map((r) => Object.values(r)));
    expect(
      await rows("SELECT okey, state, due_at, last_error FROM bus_deliveries WHERE grp = 'g' ORDER BY okey"),
    )
      .toEqual([["b", 0, 5_000, "later"], ["d", 1, 62_000, null]]);
    expect(await rows("SELECT okey, last_error FROM bus_dead_letters")).toEqual([["c", "broken"]]);
    expect(await rows("SELECT okey FROM bus_deliveries WHERE grp = 'g2'")).toEqual([["a"]]);
  });

  it("a stale lease's settle in the same round as the current one's changes nothing and is not applied", async () => {
    const store = await setup();
    const q = await oneQueued(store);
    const base = { topic: "t", group: "g", leaseMs: 10, consumer: "c" };
    const { id } = (await q.cycle({ ...base, now: 1_000, settles: [], claim: 1 })).claimed[0]!; // fence 1, expires
    expect((await q.cycle({ ...base, now: 2_000, settles: [], claim: 1 })).claimed[0]!.fence).toBe(2);
    const current = { kind: "retry" as const, key: "k", id, fence: 2, visibleAt: 4_000, error: "current" };
    const stale = { ...current, fence: 1, visibleAt: 999_999_999, error: "stale" };
    for (const settles of [[current, stale], [stale, current]]) {
      const res = await q.cycle({ ...base, now: 3_000, claim: 0, settles });
      expect(res.applied).toEqual(settles.map((s) => s === current));
      const row = (await store.client.execute("SELECT due_at, last_error FROM bus_deliveries")).rows[0]!;
      expect([Number(row["due_at"]), row["last_error"]]).toEqual([4_000, "current"]);
      await store.client.execute("UPDATE bus_deliveries SET state = 1"); // leased again by fence 2
    }
    const acked = await q.cycle({ ...base, now: 3_000, claim: 0, settles: [{ kind: "ack", key: "k", id, fence: 1 }] });
    expect(acked.applied).toEqual([false]);
    expect(await count(store, "bus_deliveries")).toBe(1);
  });

  it("an original purged by retention between the INSERT and the lookup: only that message is published again", async () => {
    const store = await setup();
    const seed = createSqliteBus(store, { wake: { watch: false } });
    await seed.subscribe("t", "g");
    await seed.publish([{ topic: "t", key: "old", payload: "orig", idempotencyKey: "dup" }]);
    await seed.close();
    await store.client.execute("DELETE FROM bus_deliveries"); // handled long ago: refs 0, what retention purges
    let purged = false;
    // Retention's purge, run right before the lookup of the keys the INSERT found taken.
    const execute: Store["client"]["execute"] = async (stmt) => {
      if (!purged && typeof stmt === "object" && stmt.sql.includes("SELECT idem_key, id FROM bus_messages")) {
        purged = true;
        await store.client.execute("DELETE FROM bus_messages WHERE idem_key = 'dup' AND refs <= 0");
      }
      return await store.client.execute(stmt as never);
    };
    const client = new Proxy(store.client, {
      get: (target, prop) => (prop === "execute" ? execute : Reflect.get(target, prop).bind?.(target) ?? Reflect.get(target, prop)),
    });
    const bus = createSqliteBus({ ...store, client }, { wake: { watch: false } });
    const res = await bus.publish([
      { topic: "t", key: "a", payload: "unkeyed" },
      { topic: "t", key: "b", payload: "new", idempotencyKey: "fresh" },
      { topic: "t", key: "c", payload: "again", idempotencyKey: "dup" },
    ]);
    await bus.close();
    expect(purged).toBe(true);
    const rows = await store.client.execute("SELECT okey, count(*) AS n FROM bus_deliveries GROUP BY okey ORDER BY okey");
    expect(rows.rows.map((r) => [r["okey"], Number(r["n"])])).toEqual([["a", 1], ["b", 1], ["c", 1]]);
    expect(res.map((r) => r.duplicate)).toEqual([false, false, false]);
    expect(new Set(res.map((r) => r.id)).size).toBe(3);
  });

  it("a dead letter retried goes on from its fences: a lease lost before it died does not hold it again", async () => {
    const store = await setup();
    const q = await oneQueued(store);
    const base = { topic: "t", group: "g", leaseMs: 100, consumer: "c" };
    const a = (await q.cycle({ ...base, now: 1_000, settles: [], claim: 1 })).claimed[0]!; // fence 1, then it hangs
    const b = (await q.cycle({ ...base, now: 2_000, settles: [], claim: 1 })).claimed[0]!; // fence 2
    const dead = { kind: "dead" as const, key: "k", id: b.id, fence: b.fence, error: "boom", attempts: 2 };
    expect((await q.cycle({ ...base, now: 2_050, claim: 0, settles: [dead] })).applied).toEqual([true]);
    const bus = createSqliteBus(store, { now: () => 3_000, wake: { watch: false } });
    expect(await bus.retryDeadLetter(b.id)).toBe(true);
    await bus.close();
    const c = (await q.cycle({ ...base, now: 3_000, settles: [], claim: 1 })).claimed[0]!;
    expect([a.fence, b.fence, c.fence]).toEqual([1, 2, 3]);
    const stale = await q.cycle({ ...base, now: 3_010, claim: 0, settles: [{ kind: "ack", key: "k", id: a.id, fence: a.fence }] });
    expect(stale.applied).toEqual([false]);
  });

  it("a round's acks with rows of the same INSERT write them as one statement; a row at fault fails only its ack", async () => {
    const store = await setup();
    const bus = createSqliteBus(store, { now: () => 0, wake: { watch: false } });
    await bus.subscribe("t", "g");
    await bus.publish(["a", "b", "c", "d"].map((key) => ({ topic: "t", key, payload: key })));
    await bus.close();
    await store.client.execute("CREATE TABLE side (v TEXT NOT NULL)");
    const q = createSqliteQueue(store.client);
    const base = { topic: "t", group: "g", leaseMs: 60_000, consumer: "c" };
    const claimed = (await q.cycle({ ...base, now: 1_000, settles: [], claim: 4 })).claimed;
    const ack = (c: (typeof claimed)[number], v: string | null) => ({
      kind: "ack" as const,
      key: c.key,
      id: c.id,
      fence: c.fence,
      with: q.ackCommit({ before: [{ sql: "INSERT INTO side (v) VALUES (?)", args: [v] }] }),
    });
    const batches: string[][] = [];
    const batch = store.client.batch.bind(store.client);
    store.client.batch = ((stmts: InStatement[], mode) => {
      batches.push(stmts.map((st) => (typeof st === "string" ? st : st.sql)));
      return batch(stmts, mode);
    }) as typeof store.client.batch;
    const [a, b, c, d] = claimed;
    const res = await q.cycle({ ...base, now: 2_000, claim: 0, settles: [ack(a!, "a"), ack(b!, "b"), ack(c!, null), ack(d!, "d")] });
    expect(res.applied).toEqual([true, true, false, true]);
    expect(String(res.errors?.[2])).toMatch(/NOT NULL constraint failed: side.v/);
    const inserts = (sqls: string[]) => sqls.filter((sql) => sql.startsWith("INSERT INTO side"));
    expect(inserts(batches[0]!)).toEqual(["INSERT INTO side (v) VALUES (?), (?), (?), (?)"]); // the round's, together
    expect(batches.slice(1).map(inserts)).toEqual([1, 2, 3, 4].map(() => ["INSERT INTO side (v) VALUES (?)"])); // each alone
    expect((await store.client.execute("SELECT v FROM side ORDER BY v")).rows.map((r) => r["v"])).toEqual(["a", "b", "d"]);
    expect((await store.client.execute("SELECT msg_id FROM bus_deliveries")).rows.map((r) => Number(r["msg_id"]))).toEqual([c!.id]);
  });

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

  it("stop() while a round waits for the write lock: what that round claims is given back, not handled", async () => {
    const store = await setup();
    const bus = createSqliteBus(store, { wake: { watch: false } });
    await bus.subscribe("t", "g");
    await bus.publish([{ topic: "t", key: "k", payload: 1 }]);
    const other = await openStore({ url: store.url });
    cleanups.push(() => Promise.resolve(other.close()));
    const held = await other.client.transaction("write"); // another process's write: the round waits for the lock
    const handled: number[] = [];
    const c = bus.consume({
      topic: "t",
      group: "g",
      handler: async (d) => {
        handled.push(d.id);
        await sleep(200);
      },
    });
    await sleep(50);
    const stopped = c.stop(1_000);
    await sleep(10);
    held.close(); // rolled back: the lock is free, the round claims
    await stopped;
    const leasedAtStop = await count(store, "bus_deliveries WHERE state = 1");
    await sleep(300); // a handler started anyway would have finished by now
    expect({ handled, leasedAtStop, leased: await count(store, "bus_deliveries WHERE state = 1") })
      .toEqual({ handled: [], leasedAtStop: 0, leased: 0 });
    expect(await count(store, "bus_deliveries WHERE state = 0 AND attempts = 0")).toBe(1);
    await bus.close();
  });

  it("a consumer whose store answers 503 backs off with growing pauses, not at its poll interval", async () => {
    // A libSQL server behind a proxy that is overloaded: every request answers 503.
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      req.resume().on("end", () => res.writeHead(503).end("overloaded"));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const store = await openStore({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
    cleanups.push(() => Promise.resolve(store.close()));
    const bus = createSqliteBus(store, { log: createLogger({ agent: "t", secrets: [], write: () => {} }) });
    const c = bus.consume({ topic: "t", group: "g", handler: () => Promise.resolve() });
    await sleep(1_000);
    await c.stop();
    // 25 ms doubling: about six rounds in the first second, each one request.
    expect(requests).toBeLessThanOrEqual(10);
  });

  it("a handler error whose stored text is cut inside an emoji is retried and dead-lettered; reading it back does not crash the agent", async () => {
    const tmp = await tempDir("aideazz-bus-");
    cleanups.push(tmp.cleanup);
    const r = await startWorker("test/bus/worker-error-text.ts", [join(tmp.dir, "bus.db")]).done;
    expect(r.code, r.stderr.slice(-300)).toBe(0); // libsql panicked on the text it read back (exit 134)
    expect(lastJson(r.stdout)).toEqual({ attempts: [1, 2], dead: "aa\uFFFD…" });
  });

  describe("the writes riding on a round's acks", () => {
    async function round(keys: string[]) {
      const store = await setup();
      await store.client.execute("CREATE TABLE side (v TEXT NOT NULL)");
      const bus = createSqliteBus(store, { now: () => 0, wake: { watch: false } });
      await bus.subscribe("in", "g");
      await bus.subscribe("out", "o");
      await bus.publish(keys.map((key) => ({ topic: "in", key, payload: key })));
      await bus.close();
      const q = createSqliteQueue(store.client);
      const base = { topic: "in", group: "g", leaseMs: 60_000, consumer: "c" };
      const claimed = (await q.cycle({ ...base, now: 1_000, settles: [], claim: keys.length })).claimed;
      expect(claimed.map((c) => c.key)).toEqual(keys);
      /** The settle of a handler that wrote `v` and replied. */
      const ack = (c: (typeof claimed)[number], v: string | null) => ({
        kind: "ack" as const,
        key: c.key,
        id: c.id,
        fence: c.fence,
        with: q.ackCommit({
          before: [{ sql: "INSERT INTO side (v) VALUES (?)", args: [v] }],
          publish: [{ topic: "out", key: c.key, payload: `reply to ${c.key}`, idempotencyKey: `r:${c.id}` }],
        }),
      });
      const column = async (sql: string) => (await store.client.execute(sql)).rows.map((r) => Object.values(r)[0]);
      const side = () => column("SELECT v FROM side ORDER BY rowid");
      const replies = () => column("SELECT okey FROM bus_messages WHERE topic = 'out' ORDER BY id");
      const waiting = () => column("SELECT okey FROM bus_deliveries WHERE topic = 'in' ORDER BY okey");
      return { store, q, base, claimed, ack, side, replies, waiting };
    }

    it("commit together: each handler's rows, its reply in the order they finished, every delivery acked", async () => {
      const { q, base, claimed, ack, side, replies, waiting } = await round(["a", "b", "c"]);
      const [a, b, c] = claimed;
      const res = await q.cycle({ ...base, now: 2_000, claim: 0, settles: [ack(c!, "c"), ack(a!, "a"), ack(b!, "b")] });
      expect(res.applied).toEqual([true, true, true]);
      expect(res.errors?.filter((e) => e !== undefined)).toEqual([]);
      expect(await side()).toEqual(["c", "a", "b"]);
      expect(await replies()).toEqual(["c", "a", "b"]);
      expect(await waiting()).toEqual([]);
    });

    it("a lost lease or a failing write fails only its own delivery; the others commit", async () => {
      const { store, q, base, claimed, ack, side, replies, waiting } = await round(["a", "b", "c"]);
      const [a, b, c] = claimed;
      // b's lease was taken over (another consumer's claim after an expiry); c's row breaks a constraint.
      await store.client.execute({ sql: "UPDATE bus_deliveries SET fence = fence + 1 WHERE msg_id = ?", args: [b!.id] });
      const settles = [ack(a!, "a"), ack(b!, "b"), ack(c!, null)];
      const res = await q.cycle({ ...base, now: 2_000, claim: 0, settles });
      expect(res.applied).toEqual([true, false, false]);
      expect(res.errors?.[1]).toBeUndefined(); // refused by its guard: the lease holder's business now
      expect(String(res.errors?.[2])).toMatch(/NOT NULL constraint failed: side\.v/);
      expect(await side()).toEqual(["a"]);
      expect(await replies()).toEqual(["a"]);
      expect(await waiting()).toEqual(["b", "c"]);
    });

    it("publish the payloads as they were at ackWith: a handler changing its object later changes nothing", async () => {
      const { store, q, base, claimed } = await round(["a"]);
      const c = claimed[0]!;
      const payload = { text: "first" };
      const settle = {
        kind: "ack" as const,
        key: c.key,
        id: c.id,
        fence: c.fence,
        with: q.ackCommit({ publish: [{ topic: "out", key: c.key, payload, idempotencyKey: `r:${c.id}` }] }),
      };
      Object.assign(payload, { text: "changed", n: 10n }); // 10n is not JSON: it would fail the round if read now
      const res = await q.cycle({ ...base, now: 2_000, claim: 0, settles: [settle] });
      expect(res.applied).toEqual([true]);
      const rs = await store.client.execute("SELECT payload FROM bus_messages WHERE topic = 'out'");
      expect(rs.rows.map((r) => JSON.parse(String(r["payload"])))).toEqual([{ text: "first" }]);
    });
  });

  describe("a handler's last write rides on its ack (Delivery.ackWith)", () => {
    async function withSide() {
      const store = await setup();
      await store.client.execute("CREATE TABLE side (v TEXT NOT NULL)");
      const logs: string[] = [];
      const log = createLogger({ agent: "t", secrets: [], write: (l) => void logs.push(l) });
      const bus = createSqliteBus(store, { wake: { fallbackMs: 20 }, log });
      await bus.subscribe("in", "g");
      await bus.subscribe("out", "o");
      const side = async () =>
        (await store.client.execute("SELECT v FROM side ORDER BY rowid")).rows.map((r) => String(r["v"]));
      const pendingIn = () => count(store, "bus_deliveries WHERE topic = 'in'");
      return { store, bus, side, pendingIn, logs };
    }
    /** Consumes "in" as "g", retrying a failed attempt after 10 ms. */
    const consumeIn = (bus: Bus, handler: Handler) =>
      bus.consume({ topic: "in", group: "g", retryBaseMs: 10, retryMaxMs: 10, handler });
    /** Takes the delivery of `id` away from its holder, as another consumer's claim after an expiry would. */
    const steal = (store: Store, id: number) =>
      store.client.execute({
        sql: "UPDATE bus_deliveries SET fence = fence + 1 WHERE msg_id = ?",
        args: [id],
      });

    it("a write under the lease (underLease) commits with the lease check as its first statement; a stolen lease's writes nothing", async () => {
      const { store, bus, side } = await withSide();
      const outcomes: string[] = [];
      const c = consumeIn(bus, async (d) => {
        const insert = (v: string) => (guard: InStatement[]) =>
          store.client.batch([...guard, { sql: "INSERT INTO side (v) VALUES (?)", args: [v] }], "write");
        const [rs] = await d.underLease(insert("held"));
        outcomes.push(`guard ${rs!.rowsAffected}`); // the guard inserts no row: the lease held
        await steal(store, d.id);
        await d.underLease(insert("stolen")).then(
          () => outcomes.push("stolen: written"),
          (err) => outcomes.push(`stolen: ${(err as Error).name}, aborted ${d.signal.aborted}`),
        );
        await d.underLease(() => Promise.resolve()).catch((err) => outcomes.push(`then: ${(err as Error).name}`));
      });
      await bus.publish([{ topic: "in", key: "chat", payload: "a" }]);
      await waitFor(() => outcomes.length === 3, "the handler's three writes");
      await c.stop();
      expect(outcomes).toEqual(["guard 0", "stolen: LeaseLostError, aborted true", "then: LeaseLostError"]);
      expect(await side()).toEqual(["held"]);
    });

    it("commits the handler's rows and messages with the ack, and wakes the messages' consumers elsewhere", async () => {
      const { store, bus, side, pendingIn } = await withSide();
      const other = await openStore({ url: store.url });
      cleanups.push(() => Promise.resolve(other.close()));
      const otherBus = createSqliteBus(other, { wake: { fallbackMs: 60_000 } }); // only the wake file delivers
      const got: unknown[] = [];
      const out = otherBus.consume({
        topic: "out",
        group: "o",
        handler: (d) => Promise.resolve(void got.push(d.payload)),
      });
      const c = bus.consume({
        topic: "in",
        group: "g",
        handler: (d) => {
          d.ackWith({
            before: [{ sql: "INSERT INTO side (v) VALUES (?)", args: [`saw ${d.payload}`] }],
            publish: [{
              topic: "out",
              key: d.key,
              payload: `reply to ${d.payload}`,
              idempotencyKey: `r:${d.id}`,
            }],
          });
          expect(() => d.ackWith({})).toThrow(/twice/);
          return Promise.resolve();
        },
      });
      await sleep(100);
      await bus.publish([{ topic: "in", key: "chat", payload: "a" }, {
        topic: "in",
        key: "chat",
        payload: "b",
      }]);
      await waitFor(() => got.length === 2, "both replies", 2_000);
      expect(got).toEqual(["reply to a", "reply to b"]);
      expect(await side()).toEqual(["saw a", "saw b"]);
      expect(await pendingIn()).toBe(0);
      await Promise.all([c.stop(), out.stop()]);
      await Promise.all([bus.close(), otherBus.close()]);
    });

    it("a handler abandoned at its deadline writes, replies and acks nothing when it comes back: the retry's reply is the only one", async () => {
      const store = await setup();
      await store.client.execute("CREATE TABLE side (v TEXT NOT NULL)");
      const clock = fakeClock();
      const bus = createSqliteBus(store, { now: clock.now, random: () => 0.5, wake: { fallbackMs: 10, pollMinMs: 2, pollMaxMs: 10 } });
      cleanups.push(() => bus.close());
      await bus.subscribe("in", "g");
      await bus.subscribe("out", "o");
      await bus.publish([{ topic: "in", key: "chat", payload: "question" }]);
      let answer!: () => void;
      const stuck = new Promise<void>((resolve) => (answer = resolve));
      const late: string[] = [];
      // No idempotency key: only the lease can keep a second reply out.
      const reply = (d: Delivery) => ({ topic: "out", key: d.key, payload: `answer of attempt ${d.attempt}` });
      bus.consume({
        topic: "in",
        group: "g",
        leaseMs: 1_500, // still held at the deadline, as the heartbeat keeps it
        handlerTimeoutMs: 1_000,
        retryBaseMs: 1_000,
        handler: async (d) => {
          if (d.attempt > 1) return d.ackWith({ publish: [reply(d)] });
          // At the abort, before the message is handed back, the database would still take a write under its lease.
          d.signal.addEventListener("abort", () => {
            const insert = (guard: InStatement[]) =>
              store.client.batch([...guard, { sql: "INSERT INTO side (v) VALUES ('on abort')", args: [] }], "write");
            d.underLease(insert).catch((err) => late.push(`underLease: ${(err as Error).name}`));
          });
          await stuck; // a model call without a timeout, answering long after
          try {
            d.ackWith({ publish: [reply(d)] });
          } catch (err) {
            late.push((err as Error).message);
          }
          // and it returns: no ack
        },
      });
      const row = async () =>
        (await store.client.execute("SELECT state, attempts, last_error FROM bus_deliveries WHERE topic = 'in'")).rows
          .map((r) => [r["state"], r["attempts"], r["last_error"]]);
      await waitFor(async () => (await row())[0]?.[0] === 1, "the first attempt in flight");
      clock.advance(1_000);
      await waitFor(async () => (await row())[0]?.[0] === 0, "the message handed back at the deadline");
      expect(await row()).toEqual([[0, 1, "HandlerTimeoutError: handler gave no outcome within 1000 ms; abandoned, its signal aborted"]]);
      answer();
      await waitFor(() => late.length === 2, "the abandoned handler's writes");
      expect(late).toEqual(["underLease: LeaseLostError", "ackWith: the handler already returned or was abandoned"]);
      await sleep(50);
      expect((await row())[0]?.[0]).toBe(0); // its return acked nothing: the retry still waits
      clock.advance(750);
      await waitFor(async () => (await row()).length === 0, "the retry's ack");
      const out = await store.client.execute("SELECT payload FROM bus_messages WHERE topic = 'out'");
      expect(out.rows.map((r) => JSON.parse(String(r["payload"])))).toEqual(["answer of attempt 2"]);
      expect(await count(store, "side")).toBe(0);
    });

    it("a lease lost before the ack commits nothing of it; the redelivery commits it once", async () => {
      const { store, bus, side, pendingIn, logs } = await withSide();
      const attempts: number[] = [];
      const c = bus.consume({
        topic: "in",
        group: "g",
        leaseMs: 300,
        heartbeat: false,
        handler: async (d) => {
          attempts.push(d.attempt);
          if (d.attempt === 1) await steal(store, d.id);
          d.ackWith({
            before: [{ sql: "INSERT INTO side (v) VALUES (?)", args: [`attempt ${d.attempt}`] }],
            publish: [{ topic: "out", key: d.key, payload: d.attempt, idempotencyKey: `r:${d.id}` }],
          });
        },
      });
      await bus.publish([{ topic: "in", key: "chat", payload: "a" }]);
      await waitFor(async () => (await pendingIn()) === 0, "the redelivery's ack", 3_000);
      expect(attempts).toEqual([1, 2]);
      expect(await side()).toEqual(["attempt 2"]);
      // Refused by the guard (a lost lease), not failed: no retry of its own, the expiry brought it back.
      expect(logs.filter((l) => l.includes("settle refused"))).toHaveLength(1);
      expect(logs.filter((l) => l.includes("handler failed"))).toHaveLength(0);
      expect(
        (await store.client.execute(
          "SELECT json_extract(payload, '$') AS p FROM bus_messages WHERE topic = 'out'",
        )).rows
          .map((r) => r["p"]),
      ).toEqual([2]);
      await c.stop();
      await bus.close();
    });

    it("a write that fails in the database is the attempt's failure: retried with its error, then done", async () => {
      const { store, bus, side, pendingIn } = await withSide();
      const attempts: number[] = [];
      const c = consumeIn(bus, (d) => {
        attempts.push(d.attempt);
        // The first attempt's row breaks a constraint: its ack rolls back with it.
        d.ackWith({
          before: [{ sql: "INSERT INTO side (v) VALUES (?)", args: [d.attempt === 1 ? null : "ok"] }],
        });
        return Promise.resolve();
      });
      await bus.publish([{ topic: "in", key: "chat", payload: "a" }]);
      await waitFor(async () => (await pendingIn()) === 0, "the retry's ack", 3_000);
      expect(attempts).toEqual([1, 2]);
      expect(await side()).toEqual(["ok"]);
      expect(await count(store, "bus_dead_letters")).toBe(0);
      await c.stop();
      await bus.close();
    });

    it("a handler that fails after ackWith commits none of it, and the retry does", async () => {
      const { bus, side, pendingIn } = await withSide();
      let runs = 0;
      const c = consumeIn(bus, (d) => {
        d.ackWith({ before: [{ sql: "INSERT INTO side (v) VALUES (?)", args: [`run ${++runs}`] }] });
        return runs === 1 ? Promise.reject(new Error("failed after ackWith")) : Promise.resolve();
      });
      await bus.publish([{ topic: "in", key: "chat", payload: "a" }]);
      await waitFor(async () => (await pendingIn()) === 0, "the retry's ack", 3_000);
      expect(await side()).toEqual(["run 2"]);
      await c.stop();
      await bus.close();
    });
  });
});
