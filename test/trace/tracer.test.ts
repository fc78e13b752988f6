import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createFlushLoop, createMetrics, M } from "../../src/metrics/mod.ts";
import { type Client, type InStatement, migrate, openStore, type Store } from "../../src/store/mod.ts";
import {
  createTracer,
  eventsOf,
  formatTimeline,
  lastTraceIds,
  matchTraceIds,
  newTraceId,
  purgeTraceEvents,
  recentTraces,
  shortTraceId,
  summarizeTrace,
  type TraceEvent,
  traceIdsOfChat,
} from "../../src/trace/mod.ts";
import { databasePrototype } from "../support/libsql.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-tracer-"));
  store = await openStore({ url: `file:${join(dir, "t.db")}` });
  await migrate(store.client);
});
afterAll(async () => {
  store.close();
  await cleanup();
});

const T0 = Date.UTC(2025, 4, 1, 9, 0, 0);

describe("newTraceId", () => {
  it("is 32 lowercase hex digits: the time in ms, then the injected random bytes", () => {
    const at = () => 0x019a_d2f8_e3a1;
    expect(newTraceId((n) => new Uint8Array(n).fill(0xab), at)).toBe(`019ad2f8e3a1${"ab".repeat(10)}`);
    const a = newTraceId();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(newTraceId()).not.toBe(a);
    expect(shortTraceId(a)).toBe(a.slice(20));
  });

  it("grows with time, so the trace index grows at its end", () => {
    let t = T0;
    const ids = Array.from({ length: 50 }, () => newTraceId(undefined, () => t++));
    expect([...ids].sort()).toEqual(ids);
  });
});

describe("tracer", () => {
  it("event() is a no-op without a trace id; begin() records the stage with its duration", () => {
    let now = T0;
    const tracer = createTracer({ agent: "orchestrator", now: () => now });
    tracer.event(undefined, "claimed");
    tracer.event("", "claimed");
    expect(tracer.peek()).toEqual([]);
    const done = tracer.begin("t1", "provider", { provider: "groq" });
    now += 840;
    done({ status: "ok", skipped: undefined });
    done({ status: "twice" }); // ignored
    expect(tracer.peek()).toEqual([{
      traceId: "t1",
      agent: "orchestrator",
      stage: "provider",
      at: T0,
      seq: 0,
      durationMs: 840,
      detail: { provider: "groq", status: "ok" },
    }]);
  });

  it("a trace's last stage is its reply's: a lead's extraction after the send does not hide `sent`", () => {
    const at = (stage: TraceEvent["stage"], n: number): TraceEvent => ({
      traceId: "t",
      agent: n < 3 ? "wa" : "orchestrator",
      stage,
      at: n,
      seq: n,
      detail: {},
    });
    const events: TraceEvent["stage"][] = ["received", "stored", "claimed", "reply_queued", "sent", "route"];
    expect(summarizeTrace(events.map(at))?.lastStage).toBe("sent");
    expect(summarizeTrace([...events, "dead_letter" as const].map(at))?.lastStage).toBe("dead_letter");
    const unanswered: TraceEvent["stage"][] = ["received", "stored", "claimed", "route"];
    expect(summarizeTrace(unanswered.map(at))?.lastStage).toBe("route");
  });

  it("keeps at most maxBuffered events (oldest dropped, counted) and requeues them when a write fails", () => {
    const metrics = createMetrics();
    const tracer = createTracer({ agent: "a", now: () => T0, maxBuffered: 3, metrics });
    for (let i = 0; i < 5; i++) tracer.event("t", "retry", { attempt: i });
    expect(tracer.peek().map((e) => e.detail["attempt"])).toEqual([2, 3, 4]);
    expect(metrics.snapshot().find((s) => s.name === M.traceEventsDropped)?.value).toBe(2);
    const batch = tracer.source.collect(T0);
    expect(tracer.peek()).toEqual([]);
    tracer.event("t", "sent");
    batch.done(false, []);
    expect(tracer.peek().map((e) => e.stage)).toEqual(["retry", "retry", "sent"]); // 3 kept, oldest dropped
  });

  it("redacts secrets out of the stored detail", async () => {
    const tracer = createTracer({
      agent: "tg",
      now: () => T0,
      redact: (t) => t.replaceAll("SECRET123", "[redacted]"),
    });
    tracer.event("redact1", "error", { message: "401 for https://api/botSECRET123/sendMessage" });
    const loop = createFlushLoop({
      client: store.client,
      sources: [tracer.source],
      intervalMs: 1_000,
      now: () => T0,
    });
    await loop.flush();
    const events = (await eventsOf(store.client, ["redact1"])).get("redact1")!;
    expect(events[0]?.detail).toEqual({ message: "401 for https://api/bot[redacted]/sendMessage" });
  });

  it("finds traces by id, unique prefix, chat (full key or its last part) and last; deletes past retention", async () => {
    let now = T0;
    const tracer = createTracer({ agent: "tg", now: () => now });
    const loop = createFlushLoop({
      client: store.client,
      sources: [tracer.source],
      intervalMs: 1_000,
      now: () => now,
    });
    const ids = ["aaaa1111", "aaaa2222", "bbbb3333"].map((p) => p.padEnd(32, "0"));
    ids.forEach((id, i) => {
      tracer.event(id, "received", { n: i }, { chat: `tg:${100 + (i % 2)}`, at: T0 + i * 1_000 });
      tracer.event(id, "stored", {}, { at: T0 + i * 1_000 + 3 });
    });
    await loop.flush();
    expect(await matchTraceIds(store.client, "aaaa")).toEqual([ids[0], ids[1]]);
    expect(await matchTraceIds(store.client, "bbbb33")).toEqual([ids[2]]);
    expect(await traceIdsOfChat(store.client, "100")).toEqual([ids[2], ids[0]]);
    expect(await traceIdsOfChat(store.client, "tg:101")).toEqual([ids[1]]);
    expect(await traceIdsOfChat(store.client, "0")).toEqual([]); // a suffix match needs the ':' boundary
    expect(await lastTraceIds(store.client, 1)).toEqual([ids[2]]);
    const recent = await recentTraces(store.client, 2);
    expect(recent.map((r) => [r.traceId, r.chat, r.lastStage, r.events])).toEqual([[
      ids[2],
      "tg:100",
      "stored",
      2,
    ], [ids[1], "tg:101", "stored", 2]]);
    const text = formatTimeline((await eventsOf(store.client, [ids[0]!])).get(ids[0]!)!);
    expect(text).toContain(`trace ${ids[0]}`);
    expect(text).toMatch(/\+3 ms\s+\+3 ms\s+tg\s+stored/);
    now = T0 + 8 * 86_400_000;
    tracer.event("new".padEnd(32, "0"), "received");
    await loop.flush();
    await purgeTraceEvents(store.client, { cutoff: now - 7 * 86_400_000, maxStoredEvents: 1_000_000 });
    expect(await matchTraceIds(store.client, "aaaa")).toEqual([]);
    expect(await matchTraceIds(store.client, "new")).toEqual(["new".padEnd(32, "0")]);
  });

  it("indexes events only in time order: a batch of events lands on the last pages of each index", async () => {
    // trace ids begin with their time; an index led by the chat put each message's event on a random page.
    const leading = await store.client.execute(`SELECT i.name AS idx, c.name AS col
      FROM pragma_index_list('trace_events') AS i, pragma_index_info(i.name) AS c WHERE c.seqno = 0 ORDER BY i.name`);
    expect(leading.rows.map((r) => [r["idx"], r["col"]])).toEqual([
      ["trace_events_at", "at"],
      ["trace_events_received", "at"],
      ["trace_events_trace", "trace_id"],
    ]);
  });

  it("writes batches of any size with one prepared statement (under Deno each prepared statement leaks)", async () => {
    // Spied before the store opens: a connection keeps the `prepare` it was opened with (src/store/open.ts).
    const prepare = vi.spyOn(databasePrototype, "prepare");
    const local = await openStore({ url: `file:${join(dir, "prepared.db")}` });
    try {
      await migrate(local.client);
      const tracer = createTracer({ agent: "tg", now: () => T0 });
      const loop = createFlushLoop({ client: local.client, sources: [tracer.source], intervalMs: 1_000, now: () => T0 });
      const ids: string[] = [];
      for (const n of [1, 2, 5]) {
        for (let i = 0; i < n; i++) {
          const id = `b${n}x${i}`.padEnd(32, "0");
          ids.push(id);
          tracer.event(id, "received", i === 0 ? { n } : {}, { at: T0 + i, chat: `tg:${n}` });
        }
        await loop.flush();
      }
      const inserts = prepare.mock.calls.filter((args: unknown[]) => String(args[0]).startsWith("INSERT INTO trace_events"));
      expect(inserts.length).toBe(1);
      const events = await eventsOf(local.client, ids);
      expect(ids.map((id) => events.get(id)?.map((e) => [e.stage, e.at, e.chat, e.detail]))).toEqual(
        [1, 2, 5].flatMap((n) =>
          Array.from({ length: n }, (_, i) => [["received", T0 + i, `tg:${n}`, i === 0 ? { n } : {}]])
        ),
      );
    } finally {
      prepare.mockRestore();
      local.close();
    }
  });

  it("finds a trace by the end of its id (the short form people see), when no id starts with it", async () => {
    const local = await openStore({ url: `file:${join(dir, "ends.db")}` });
    await migrate(local.client);
    const tracer = createTracer({ agent: "tg", now: () => T0 });
    const loop = createFlushLoop({ client: local.client, sources: [tracer.source], intervalMs: 1_000, now: () => T0 });
    const ids = ["01", "02", "03"].map((t) => newTraceId(undefined, () => T0 + Number(t)));
    const ending = `${"0".repeat(20)}0123456789ab`;
    for (const id of [...ids, ending]) tracer.event(id, "received");
    await loop.flush();
    expect(await matchTraceIds(local.client, shortTraceId(ids[1]!))).toEqual([ids[1]]);
    expect(await matchTraceIds(local.client, "456789ab")).toEqual([ending]);
    // A start wins over an end: "0000000" starts `ending` (and ends no id).
    expect(await matchTraceIds(local.client, "0000000")).toEqual([ending]);
    expect(await matchTraceIds(local.client, "fffffff")).toEqual([]);
    local.close();
  });

  it("keeps the newest maxStoredEvents events, deleting the oldest a chunk per statement", async () => {
    const local = await openStore({ url: `file:${join(dir, "cap.db")}` });
    await migrate(local.client);
    const tracer = createTracer({ agent: "tg", now: () => T0 });
    const loop = createFlushLoop({ client: local.client, sources: [tracer.source], intervalMs: 1_000, now: () => T0 });
    for (let i = 0; i < 2_500; i++) tracer.event(`t${i}`.padEnd(32, "0"), "received", {}, { at: T0 + i });
    await loop.flush(); // ids 1 … 2,500
    const deleted: number[] = [];
    const counting = {
      execute: async (stmt: InStatement) => {
        const rs = await local.client.execute(stmt);
        deleted.push(rs.rowsAffected);
        return rs;
      },
    } as unknown as Client;
    expect(await purgeTraceEvents(counting, { cutoff: T0, maxStoredEvents: 1_000, chunk: 400 })).toBe(1_500);
    // Nothing older than the cutoff (one statement), then 1,500 over the cap in statements of at most 400.
    expect(deleted).toEqual([0, 400, 400, 400, 300]);
    const rs = await local.client.execute("SELECT count(*) AS n, min(at) AS oldest FROM trace_events");
    expect(Number(rs.rows[0]?.["n"])).toBe(1_000);
    expect(Number(rs.rows[0]?.["oldest"])).toBe(T0 + 1_500);
    local.close();
  });
});
