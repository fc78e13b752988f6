// The send ledger (RELIABILITY.md C1, C2): a redelivered reply is sent at most once.
import { afterEach, describe, expect, it } from "vitest";
import { createSendLedger, createSqliteBus, type Delivery } from "../../src/bus/mod.ts";
import { fakeClock, sleep, waitFor } from "./contract.ts";
import { freshDb, type TestDb } from "./helpers.ts";

describe("send ledger", () => {
  let db: TestDb;
  afterEach(async () => await db?.cleanup());

  it("records intent then outcome: a second attempt finds it pending, then sent with the platform id", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const ledger = createSendLedger(db.store, { now: clock.now, staleMs: 60_000 });
    expect(await ledger.begin("in-7:0", 3)).toEqual({ status: "send", attempt: 1 });
    expect(await ledger.begin("in-7:0", 4)).toEqual({ status: "pending", since: clock.now() });
    expect(await ledger.wasSent("in-7:0")).toBeUndefined();
    await ledger.recordSent("in-7:0", "tg-msg-991");
    expect(await ledger.begin("in-7:0", 5)).toEqual({ status: "sent", platformId: "tg-msg-991" });
    expect(await ledger.wasSent("in-7:0")).toBe("tg-msg-991");
  });

  it("a failed send (platform error, nothing sent) may be sent again", async () => {
    db = await freshDb();
    const ledger = createSendLedger(db.store);
    await ledger.begin("r1", 1);
    await ledger.recordFailed("r1", 1, "429 Too Many Requests");
    expect(await ledger.begin("r1", 2)).toEqual({ status: "send", attempt: 2 });
  });

  it("an intent without outcome past staleMs is unknown: skipped by default, taken over with resendUnknown", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const ledger = createSendLedger(db.store, { now: clock.now, staleMs: 60_000 });
    await ledger.begin("r1", 1); // the process dies here, between the HTTP call and recordSent
    clock.advance(60_000);
    expect(await ledger.begin("r1", 2)).toMatchObject({ status: "unknown" });
    expect(await ledger.begin("r1", 2, { resendUnknown: true })).toEqual({ status: "send", attempt: 2 });
    expect(await ledger.begin("r1", 3, { resendUnknown: true })).toMatchObject({ status: "pending" });
  });

  it("an intent dated after now (the clock stepped back since) counts from now: pending staleMs, not the step too", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const ledger = createSendLedger(db.store, { now: clock.now, staleMs: 60_000 });
    await ledger.begin("r1", 1); // the process dies here
    clock.advance(-3_600_000); // NTP steps the clock back an hour while the agent restarts
    expect(await ledger.begin("r1", 2)).toEqual({ status: "pending", since: clock.now() });
    clock.advance(59_999);
    expect(await ledger.begin("r1", 2)).toMatchObject({ status: "pending" });
    clock.advance(1);
    expect(await ledger.begin("r1", 2)).toEqual({ status: "unknown", since: clock.now() - 60_000 });
    expect(await ledger.begin("r1", 2, { resendUnknown: true })).toEqual({ status: "send", attempt: 2 });
  });

  it("resendUnknown \"partial\" takes over only an unknown intent that was a partial reply's post", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const ledger = createSendLedger(db.store, { now: clock.now, staleMs: 60_000 });
    await ledger.begin("final#0", 1); // a final reply's send, outcome never recorded
    await ledger.begin("partial#0", 1, { partial: true }); // a partial's post, likewise
    clock.advance(60_000);
    expect(await ledger.begin("final#0", 2, { resendUnknown: "partial" })).toMatchObject({ status: "unknown" });
    expect(await ledger.begin("partial#0", 2, { resendUnknown: "partial" })).toEqual({ status: "send", attempt: 2 });
    // The takeover was a final's send: unknown again later, it is not taken over a second time.
    clock.advance(60_000);
    expect(await ledger.begin("partial#0", 3, { resendUnknown: "partial" })).toMatchObject({ status: "unknown" });
  });

  it("releasing an intent is fenced: a late release by an attempt whose intent was taken over changes nothing", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const ledger = createSendLedger(db.store, { now: clock.now, staleMs: 60_000 });
    await ledger.begin("r1", 1);
    clock.advance(60_000);
    expect(await ledger.begin("r1", 2, { resendUnknown: true })).toMatchObject({ status: "send" });
    await ledger.recordFailed("r1", 1, "lease lost before the send"); // attempt 1, long after
    expect(await ledger.begin("r1", 3)).toMatchObject({ status: "pending" });
    await ledger.recordFailed("r1", 2, "502 Bad Gateway");
    expect(await ledger.begin("r1", 3)).toMatchObject({ status: "send" });
  });

  it("an intent released between its refusal and the read is claimed, not reported pending", async () => {
    db = await freshDb();
    const first = createSendLedger(db.store);
    await first.begin("r1", 1);
    // The read that follows a refusal runs apart from it: attempt 1 gives its intent back in between.
    const client = db.store.client;
    let released = false;
    const between = new Proxy(client, {
      get(target, prop) {
        if (prop !== "execute") {
          const value = Reflect.get(target, prop);
          return typeof value === "function" ? value.bind(target) : value;
        }
        return async (stmt: { sql: string }) => {
          if (!released && stmt.sql.startsWith("SELECT state")) {
            released = true;
            await first.recordFailed("r1", 1, "502 Bad Gateway");
          }
          return await target.execute(stmt as never);
        };
      },
    });
    const second = createSendLedger({ ...db.store, client: between });
    expect(await second.begin("r1", 2)).toEqual({ status: "send", attempt: 2 });
    expect(released).toBe(true);
  });

  it("an intent whose guard statement fails is not recorded", async () => {
    db = await freshDb();
    const ledger = createSendLedger(db.store);
    const refused = { sql: "INSERT INTO bus_lease_guard (held) VALUES (NULL)", args: [] };
    await expect(ledger.begin("r1", 1, { guard: [refused] })).rejects.toThrow(/NOT NULL constraint failed/);
    expect(await ledger.begin("r1", 2)).toEqual({ status: "send", attempt: 1 });
  });

  it("recordSent commits the statements given with it in the same transaction: all of them or none", async () => {
    db = await freshDb();
    const ledger = createSendLedger(db.store);
    const { client } = db.store;
    await client.execute("CREATE TABLE sends_seen (key TEXT NOT NULL)");
    const seen = (key: string | null) => ({ sql: "INSERT INTO sends_seen (key) VALUES (?)", args: [key] });
    await ledger.begin("r1", 1);
    await ledger.recordSent("r1", "p-1", [seen("r1")]);
    expect(await ledger.wasSent("r1")).toBe("p-1");
    await ledger.begin("r2", 1);
    await expect(ledger.recordSent("r2", "p-2", [seen("r2"), seen(null)])).rejects.toThrow(/NOT NULL constraint/);
    expect(await ledger.wasSent("r2")).toBeUndefined();
    expect((await client.execute("SELECT key FROM sends_seen")).rows.map((r) => r["key"])).toEqual(["r1"]);
  });

  it("of many attempts racing on one reply exactly one may send", async () => {
    db = await freshDb();
    const ledgers = [createSendLedger(db.store), createSendLedger(db.store)];
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => ledgers[i % 2]!.begin("race", i)));
    expect(results.filter((r) => r.status === "send")).toHaveLength(1);
  });

  it("C2: with heartbeat off, the lost lease and the new lease both try to send; the user gets one message", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now, wake: { fallbackMs: 10 } });
    const ledger = createSendLedger(db.store, { now: clock.now });
    await bus.subscribe("outbound", "telegram");
    await bus.publish([{ topic: "outbound", key: "chat-1", payload: { replyKey: "in-1:0", text: "hello" } }]);
    const sent: string[] = [];
    const outcomes: string[] = [];
    let release!: () => void;
    const slowModel = new Promise<void>((resolve) => (release = resolve));
    const send = async (d: Delivery, wait: boolean) => {
      if (wait) await slowModel; // the first lease stalls past its expiry
      const { replyKey, text } = d.payload as { replyKey: string; text: string };
      const r = await ledger.begin(replyKey, d.fence);
      outcomes.push(`${d.fence}:${r.status}`);
      if (r.status === "pending") throw new Error("being sent by another attempt");
      if (r.status !== "send") return;
      sent.push(text);
      await ledger.recordSent(replyKey, `tg-${sent.length}`);
    };
    let first = true;
    const c1 = bus.consume({
      topic: "outbound",
      group: "telegram",
      concurrency: 1,
      leaseMs: 1_000,
      heartbeat: false,
      retryBaseMs: 10,
      handler: (d) => {
        const wait = first;
        first = false;
        return send(d, wait);
      },
    });
    await waitFor(() => !first, "first lease");
    clock.advance(1_001);
    const c2 = bus.consume({
      topic: "outbound",
      group: "telegram",
      concurrency: 1,
      retryBaseMs: 10,
      handler: (d) => send(d, false),
    });
    await waitFor(() => sent.length === 1, "the new lease sends");
    release(); // the old lease wakes up and tries to send too
    await waitFor(() => outcomes.length === 2, "the old lease's attempt");
    await sleep(50);
    expect(sent).toEqual(["hello"]);
    expect(outcomes[1]).toMatch(/:sent$/);
    await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "settled");
    await c1.stop();
    await c2.stop();
    await bus.close();
  });
});
