// Retention: finished rows purged on schedule; the -wal file stays bounded under a reader that never lets go
// (RELIABILITY.md C7).
import { stat } from "node:fs/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createRetention, createSendLedger, createSqliteBus, REDACTED_PAYLOAD } from "../../src/bus/mod.ts";
import { fakeClock, sleep, waitFor } from "./contract.ts";
import { count, freshDb, type TestDb } from "./helpers.ts";
import { databasePrototype, statementPrototype } from "../support/libsql.ts";
import { lastJson, startWorker } from "./spawn.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** The stored payload of the message with idempotency key `key`. */
async function payloadOf(db: TestDb, key: string): Promise<string | undefined> {
  const rs = await db.store.client.execute({
    sql: "SELECT payload FROM bus_messages WHERE idem_key = ?",
    args: [key],
  });
  return rs.rows[0] === undefined ? undefined : String(rs.rows[0]["payload"]);
}

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

  it("keeps the ledger rows of a reply a dead letter can bring back, until it is delivered: `dlq retry` after 9 days sends no part twice", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now });
    const ledger = createSendLedger(db.store, { now: clock.now });
    const retention = createRetention(db.store, { now: clock.now, textMs: 30 * DAY }); // the orchestrator's default
    await bus.subscribe("outbound.tg", "egress");
    await bus.publish([{ topic: "outbound.tg", key: "tg:1", payload: { replyKey: "42:answer" } }]);
    // Part 0 goes out; part 1 fails (a refused token) until the reply is dead-lettered.
    const sent: string[] = [];
    let fixed = false;
    const handler = async (d: { fence: number }) => {
      for (const key of ["42:answer#0", "42:answer#1"]) {
        if (key.endsWith("#1") && !fixed) throw new Error("401 Unauthorized");
        if ((await ledger.begin(key, d.fence)).status !== "send") continue;
        sent.push(key);
        await ledger.recordSent(key, key);
      }
    };
    let c = bus.consume({ topic: "outbound.tg", group: "egress", maxAttempts: 1, handler });
    await waitFor(async () => (await count(db.store, "bus_dead_letters")) === 1, "dead-lettered");
    await c.stop();
    // A dead inbound message: its replies' keys start with its id (`<inbound id>:answer#0`).
    await bus.subscribe("inbound", "orchestrator");
    const [inbound] = await bus.publish([{ topic: "inbound", key: "tg:2", payload: { text: "hi" } }]);
    c = bus.consume({ topic: "inbound", group: "orchestrator", maxAttempts: 1, handler: () => Promise.reject(new Error("bad")) });
    await waitFor(async () => (await count(db.store, "bus_dead_letters")) === 2, "inbound dead-lettered");
    await c.stop();
    await ledger.begin(`${inbound!.id}:answer#0`, 1);
    await ledger.begin("other#0", 1); // an old row of a reply no dead letter holds
    clock.advance(9 * DAY);
    expect(await retention.runOnce()).toMatchObject({ ledger: 1, deadLetters: 0 });
    expect(await count(db.store, "bus_send_ledger")).toBe(2); // the two replies' rows
    fixed = true; // the operator fixed the token, and re-queues the reply's dead letter
    const dead = (await bus.deadLetters()).find((d) => d.topic === "outbound.tg")!;
    expect(await bus.retryDeadLetter(dead.id)).toBe(true);
    // A run before egress has it again (the orchestrator restarting): a delivery now, its rows are kept all the same.
    expect(await retention.runOnce()).toMatchObject({ ledger: 0 });
    c = bus.consume({ topic: "outbound.tg", group: "egress", maxAttempts: 1, handler });
    await waitFor(async () => (await count(db.store, "bus_deliveries")) === 0, "delivered");
    await c.stop();
    await bus.close();
    expect(sent).toEqual(["42:answer#0", "42:answer#1"]);
  });

  it("with 1,500 dead replies, their 3,000 old ledger rows stay and only the 10 others go, past chunk boundaries", async () => {
    db = await freshDb();
    const now = Date.UTC(2030, 0, 20);
    const c = db.store.client;
    // Outbound replies an outage dead-lettered yesterday; their two parts each were sent 9 days ago.
    await c.execute({
      sql: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
        INSERT INTO bus_messages (id, topic, okey, payload, idem_key, published_at, visible_at)
        SELECT i, 'outbound.tg', 'tg:' || i, json_object('replyKey', (100000 + i) || ':answer'), 'reply:' || i, ?1, ?1
        FROM n`,
      args: [now - 9 * DAY],
    });
    await c.execute({
      sql: `INSERT INTO bus_dead_letters (msg_id, grp, topic, okey, attempts, last_error, dead_at)
        SELECT id, 'egress', topic, okey, 5, '401', ?1 FROM bus_messages`,
      args: [now - DAY],
    });
    await c.execute({
      sql: `INSERT INTO bus_send_ledger (reply_key, state, fence, started_at)
        SELECT (100000 + id) || ':answer#' || k, 'sent', 1, ?1 FROM bus_messages, (SELECT 0 AS k UNION SELECT 1)
        UNION ALL SELECT 'zz' || id || ':answer#0', 'sent', 1, ?1 FROM bus_messages WHERE id <= 10`,
      args: [now - 9 * DAY],
    });
    const retention = createRetention(db.store, { now: () => now, chunk: 500, walBytes: () => Promise.resolve(0) });
    expect(await retention.runOnce()).toMatchObject({ ledger: 10 });
    expect(await count(db.store, "bus_send_ledger")).toBe(3_000);
    expect(await retention.runOnce()).toMatchObject({ ledger: 0 });
  });

  it("redacts a handled keyed message older than textMs and keeps dropping its duplicates for the dedup window", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now });
    const retention = createRetention(db.store, { now: clock.now, textMs: 3 * DAY });
    await bus.subscribe("inbound", "g");
    const message = { topic: "inbound", key: "wa1:15550001111", payload: { text: "my card is 4111 1111" } };
    const [first] = await bus.publish([{ ...message, idempotencyKey: "whatsapp:wamid.A" }]);
    const seen: unknown[] = [];
    const c = bus.consume({
      topic: "inbound",
      group: "g",
      handler: (d) => Promise.resolve(void seen.push(d.payload)),
    });
    await waitFor(async () => (await count(db.store, "bus_deliveries")) === 0, "acked");
    await c.stop();
    expect(seen).toEqual([message.payload]);
    clock.advance(3 * DAY - 1);
    await retention.runOnce();
    expect(await payloadOf(db, "whatsapp:wamid.A")).toContain("4111");
    clock.advance(2 * HOUR); // past textMs, and the next hourly redaction is due
    const report = await retention.runOnce();
    expect(await count(db.store, "SELECT count(*) FROM bus_messages WHERE payload LIKE '%4111%'")).toBe(0);
    expect(await payloadOf(db, "whatsapp:wamid.A")).toBe(REDACTED_PAYLOAD);
    expect(report).toMatchObject({ redacted: 1, messages: 0 });
    // WhatsApp retries the webhook on day 7: still a duplicate of the same message, and nothing is delivered again.
    clock.advance(4 * DAY - 3 * HOUR);
    const [again] = await bus.publish([{ ...message, idempotencyKey: "whatsapp:wamid.A" }]);
    expect(again).toEqual({ id: first!.id, duplicate: true });
    expect(await count(db.store, "bus_deliveries")).toBe(0);
    expect(await retention.runOnce()).toMatchObject({ redacted: 0, messages: 0 });
    // After the dedup window the row goes as before.
    clock.advance(DAY + 2 * HOUR);
    expect(await retention.runOnce()).toMatchObject({ messages: 1 });
    expect(await count(db.store, "bus_messages")).toBe(0);
    await bus.close();
  });

  it("never redacts a message whose delivery is still live; redacts it once the delivery is done", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now });
    const retention = createRetention(db.store, { now: clock.now, textMs: DAY });
    await bus.subscribe("outbound.tg1", "egress");
    const reply = { text: "You asked about order 4711", replyKey: "r1" };
    await bus.publish([{ topic: "outbound.tg1", key: "tg1:42", payload: reply, idempotencyKey: "reply:r1" }]);
    // The channel was down for five days: its delivery is still waiting.
    clock.advance(5 * DAY);
    await retention.runOnce();
    expect(await payloadOf(db, "reply:r1")).toContain("order 4711");
    const seen: unknown[] = [];
    const c = bus.consume({
      topic: "outbound.tg1",
      group: "egress",
      handler: (d) => Promise.resolve(void seen.push(d.payload)),
    });
    await waitFor(async () => (await count(db.store, "bus_deliveries")) === 0, "acked");
    await c.stop();
    expect(seen).toEqual([reply]);
    clock.advance(HOUR);
    const report = await retention.runOnce();
    expect(await payloadOf(db, "reply:r1")).not.toContain("order 4711");
    expect(await payloadOf(db, "reply:r1")).toBe(REDACTED_PAYLOAD);
    expect(report).toMatchObject({ redacted: 1 });
    await bus.close();
  });

  it("purges dead letters older than textMs (not after 30 days) and redacts their keyed message", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now });
    const retention = createRetention(db.store, { now: clock.now, textMs: 3 * DAY });
    await bus.subscribe("inbound", "g");
    await bus.publish([
      {
        topic: "inbound",
        key: "tg1:1",
        payload: { text: "call me on 555 0100" },
        idempotencyKey: "telegram:tg1:1",
      },
      { topic: "inbound", key: "tg1:2", payload: { text: "my address is 1 Main St" } },
    ]);
    const c = bus.consume({
      topic: "inbound",
      group: "g",
      maxAttempts: 1,
      handler: () => Promise.reject(new Error("bad")),
    });
    await waitFor(async () => (await count(db.store, "bus_dead_letters")) === 2, "dead-lettered");
    await c.stop();
    clock.advance(3 * DAY - 1);
    await retention.runOnce();
    expect((await bus.deadLetters()).map((d) => d.payload)).toEqual([
      { text: "call me on 555 0100" },
      { text: "my address is 1 Main St" },
    ]);
    clock.advance(2 * HOUR);
    const report = await retention.runOnce();
    expect(await count(db.store, "bus_dead_letters")).toBe(0);
    // The keyed one stays for the dedup window without its text; the unkeyed one went with its dead letter.
    expect(await count(db.store, "bus_messages")).toBe(1);
    expect(await payloadOf(db, "telegram:tg1:1")).toBe(REDACTED_PAYLOAD);
    expect(report).toMatchObject({ deadLetters: 2, redacted: 1 });
    await bus.close();
  });

  it("start() runs a pass at once, not only after intervalMs", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now });
    await bus.publish([{
      topic: "nobody-listens",
      key: "k",
      payload: { text: "hello" },
      idempotencyKey: "k1",
    }]);
    clock.advance(2 * DAY);
    const retention = createRetention(db.store, { now: clock.now, textMs: DAY, intervalMs: 60_000 });
    retention.start();
    await waitFor(async () => (await payloadOf(db, "k1")) === REDACTED_PAYLOAD, "the first pass", 2_000);
    await retention.stop();
    await bus.close();
  });

  it("copies commits into the database file every checkpointIntervalMs (no agent checkpoints on commit)", async () => {
    // Spied before the store opens: each connection keeps the `prepare` it was opened with (src/store/open.ts).
    const prepare = vi.spyOn(databasePrototype, "prepare");
    const iterate = vi.spyOn(statementPrototype, "iterate");
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
    // Every second for as long as the orchestrator runs: no new native object each time (Deno leaks them).
    expect(prepare).toHaveBeenCalledWith("PRAGMA wal_checkpoint(PASSIVE)");
    prepare.mockClear();
    iterate.mockClear();
    try {
      await sleep(300);
      expect(prepare).not.toHaveBeenCalled();
      expect(iterate).not.toHaveBeenCalled();
    } finally {
      vi.restoreAllMocks();
    }
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

  it("a dead inbound message retried after 9 days: its reply's old ledger rows stay until egress delivers the reply again", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now, wake: { watch: false } });
    const ledger = createSendLedger(db.store, { now: clock.now });
    const retention = createRetention(db.store, { now: clock.now, walBytes: () => Promise.resolve(0) });
    await bus.subscribe("inbound", "orchestrator");
    await bus.subscribe("outbound.tg", "egress");
    const [inbound] = await bus.publish([{ topic: "inbound", key: "tg:1", payload: { text: "hi" } }]);
    const replyKey = `${inbound!.id}:answer`;
    // Day 0: part 0 of the answer went out, then the turn failed for good (dead-lettered).
    expect((await ledger.begin(`${replyKey}#0`, 1)).status).toBe("send");
    await ledger.recordSent(`${replyKey}#0`, "platform-0");
    let c = bus.consume({
      topic: "inbound",
      group: "orchestrator",
      maxAttempts: 1,
      handler: () => Promise.reject(new Error("model down")),
    });
    await waitFor(async () => (await count(db.store, "bus_dead_letters")) === 1, "inbound dead-lettered");
    await c.stop();
    // While it is dead, the reply's rows are kept (the existing guarantee).
    clock.advance(9 * DAY);
    await retention.runOnce();
    expect(await ledger.wasSent(`${replyKey}#0`)).toBe("platform-0");
    // Day 9: the operator retries it; the orchestrator answers again, with the same reply key, and acks.
    expect(await bus.retryDeadLetter(inbound!.id)).toBe(true);
    c = bus.consume({
      topic: "inbound",
      group: "orchestrator",
      handler: (d) => {
        d.ackWith({ publish: [{ topic: "outbound.tg", key: "tg:1", payload: { replyKey } }] });
        return Promise.resolve();
      },
    });
    await waitFor(async () => (await count(db.store, "bus_deliveries WHERE grp = 'orchestrator'")) === 0, "answered");
    await c.stop();
    // A retention pass before egress takes the reply (the channel agent restarting): the reply is still to be delivered.
    await retention.runOnce();
    // Egress now finds part 0 sent and skips it; without the row it would send it a second time.
    expect(await ledger.wasSent(`${replyKey}#0`)).toBe("platform-0");
    expect((await ledger.begin(`${replyKey}#0`, 1)).status).toBe("sent");
    await bus.close();
  });
});
