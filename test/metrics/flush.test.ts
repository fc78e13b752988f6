// The metrics flush: one batched write per flush, write-time rollups (10 s → 1 min → 1 h), retention, a failed
// write carried by the next one, and real processes (crash, concurrent writers).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFlushLoop,
  createHeartbeatSource,
  createMetrics,
  createMetricsWriter,
  HOUR,
  M,
  MINUTE,
  readSeries,
  retentionOf,
  TEN_SECONDS,
} from "../../src/metrics/mod.ts";
import { metricsConfigSchema } from "../../src/metrics/config.ts";
import { type Client, migrate, openStore, type Store } from "../../src/store/mod.ts";
import { createTracer, newTraceId } from "../../src/trace/mod.ts";
import { denoBin, repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-flush-")));
afterAll(() => cleanup());

const T0 = Date.UTC(2025, 2, 7, 10, 0, 0); // on an hour boundary
const retention = retentionOf(
  metricsConfigSchema.parse({ retention: { tenSecondHours: 6, minuteDays: 3, hourDays: 90 } }),
);

async function freshStore(name: string, busyTimeoutMs?: number): Promise<Store> {
  const store = await openStore({
    url: `file:${join(dir, name)}`,
    ...(busyTimeoutMs ? { busyTimeoutMs } : {}),
  });
  await migrate(store.client);
  return store;
}

/** The real client with its calls counted (batch mode included). */
function counted(client: Client) {
  const calls = { batch: [] as string[], execute: 0 };
  const proxy = new Proxy(client, {
    get(target, prop) {
      if (prop === "batch") {
        return (stmts: Parameters<Client["batch"]>[0], mode: Parameters<Client["batch"]>[1]) => {
          calls.batch.push(String(mode));
          return target.batch(stmts, mode);
        };
      }
      if (prop === "execute") {
        return (...args: Parameters<Client["execute"]>) => {
          calls.execute++;
          return (target.execute as (...a: typeof args) => ReturnType<Client["execute"]>)(...args);
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { client: proxy, calls };
}

async function count(client: Client, sql: string, args: (string | number)[] = []): Promise<number> {
  const rs = await client.execute({ sql, args });
  return Number(rs.rows[0]?.["n"] ?? 0);
}

describe("metrics flush", () => {
  it("writes every series of a flush in ONE write batch, and nothing when there is nothing new", async () => {
    const store = await freshStore("batch.db");
    const { client, calls } = counted(store.client);
    let now = T0;
    const metrics = createMetrics();
    const loop = createFlushLoop({
      client,
      sources: [createMetricsWriter({ metrics, agent: "a", retention })],
      intervalMs: 5_000,
      now: () => now,
    });
    for (let i = 0; i < 200; i++) metrics.inc(M.messagesIn, { channel: `c${i % 20}` });
    for (let i = 0; i < 100; i++) metrics.observe(M.replyLatency, i * 10, { channel: `c${i % 5}` });
    metrics.set(M.rss, 1_000);
    const first = await loop.flush();
    expect(first.ok).toBe(true);
    expect(calls).toEqual({ batch: ["write"], execute: 0 });
    // 26 new series: families + series upserts + one statement per tier and shape (+ retention deletes).
    expect(first.statements).toBeLessThan(20);
    expect(await count(store.client, "SELECT count(*) AS n FROM metric_series")).toBe(26);
    now += 5_000;
    metrics.inc(M.messagesIn, { channel: "c0" });
    const second = await loop.flush();
    expect(calls.batch).toEqual(["write", "write"]);
    // Known series: one counter UPSERT and one gauge UPSERT per tier, no series or family statements.
    expect(second.statements).toBe(6);
    store.close();
  });

  it("adds each flush's increase into the 10 s, 1 min and 1 h buckets (write-time rollup)", async () => {
    const store = await freshStore("rollup.db");
    let now = T0;
    const metrics = createMetrics();
    const loop = createFlushLoop({
      client: store.client,
      sources: [createMetricsWriter({ metrics, agent: "a", retention })],
      intervalMs: 5_000,
      now: () => now,
    });
    // Every 5 s for 2 h: +1 message, RSS = minute number, one 100 ms reply.
    for (let t = 0; t < 2 * HOUR; t += 5_000) {
      now = T0 + t;
      metrics.inc(M.messagesIn, { channel: "telegram" });
      metrics.set(M.rss, Math.floor(t / MINUTE));
      metrics.observe(M.replyLatency, 100, { channel: "telegram" });
      await loop.flush();
    }
    const read = (res: number, name: string) =>
      readSeries(store.client, { from: T0, to: T0 + 2 * HOUR, res, names: [name] }).then((s) => s[0]!.points);
    const ten = await read(TEN_SECONDS, M.messagesIn);
    expect(ten).toHaveLength(720);
    expect(ten.every((p) => p.value === 2)).toBe(true);
    const minute = await read(MINUTE, M.messagesIn);
    expect(minute.map((p) => p.value)).toEqual(new Array(120).fill(12));
    const hour = await read(HOUR, M.messagesIn);
    expect(hour.map((p) => [p.start - T0, p.value])).toEqual([[0, 720], [HOUR, 720]]);
    // Gauges: last value, and min/max/average of the samples in the bucket.
    const rssHour = (await read(HOUR, M.rss))[1]!;
    expect([rssHour.value, rssHour.vmin, rssHour.vmax, rssHour.n]).toEqual([119, 60, 119, 720]);
    expect(rssHour.vsum! / rssHour.n!).toBeCloseTo(89.5);
    // Histograms: counts and buckets add up across tiers.
    const latHour = await read(HOUR, M.replyLatency);
    expect(latHour.map((p) => p.value)).toEqual([720, 720]);
    expect(latHour[0]!.buckets![6]).toBe(720); // 100 ms is in the (50, 100] bucket
    expect(latHour[0]!.vsum).toBe(72_000);
    store.close();
  });

  it("retention drops each tier's rows past its horizon, and series nobody wrote for longer than the last", async () => {
    const store = await freshStore("retention.db");
    let now = T0;
    const metrics = createMetrics();
    const writer = createMetricsWriter({ metrics, agent: "a", retention, purgeEveryMs: 0 });
    const loop = createFlushLoop({
      client: store.client,
      sources: [writer],
      intervalMs: 5_000,
      now: () => now,
    });
    metrics.inc(M.messagesIn, { channel: "old" });
    await loop.flush();
    const rows = (res: number) =>
      count(store.client, "SELECT count(*) AS n FROM metric_samples WHERE res = ?", [res]);
    expect([await rows(TEN_SECONDS), await rows(MINUTE), await rows(HOUR)]).toEqual([1, 1, 1]);
    metrics.inc(M.messagesIn, { channel: "live" });
    now = T0 + 6 * HOUR + TEN_SECONDS; // past the 6 h horizon of 10 s samples
    await loop.flush();
    expect([await rows(TEN_SECONDS), await rows(MINUTE), await rows(HOUR)]).toEqual([1, 2, 2]);
    now = T0 + 3 * 24 * HOUR + HOUR; // past 3 days: the old minute row goes too
    metrics.inc(M.messagesIn, { channel: "live" });
    await loop.flush();
    expect([await rows(TEN_SECONDS), await rows(MINUTE), await rows(HOUR)]).toEqual([1, 2, 3]);
    // A second process whose series stopped long ago: its series row goes after the longest horizon (+2 h).
    await store.client.execute({
      sql: "INSERT INTO metric_series (agent, name, labels, last_at) VALUES ('gone', 'x_total', '{}', ?)",
      args: [T0],
    });
    now = T0 + 90 * 24 * HOUR + 3 * HOUR;
    metrics.inc(M.messagesIn, { channel: "live" });
    await loop.flush();
    expect(await count(store.client, "SELECT count(*) AS n FROM metric_series WHERE agent = 'gone'")).toBe(0);
    expect(await count(store.client, "SELECT count(*) AS n FROM metric_series WHERE agent = 'a'")).toBe(2);
    expect(await rows(HOUR)).toBeLessThanOrEqual(3);
    store.close();
  });

  it("a failed write loses nothing: the next flush carries it", async () => {
    const store = await freshStore("failed.db");
    let now = T0;
    const metrics = createMetrics();
    const loop = createFlushLoop({
      client: store.client,
      sources: [createMetricsWriter({ metrics, agent: "a", retention })],
      intervalMs: 5_000,
      now: () => now,
      metrics,
    });
    metrics.inc(M.messagesIn, { channel: "telegram" }, 5);
    metrics.observe(M.replyLatency, 30, { channel: "telegram" });
    await loop.flush();
    // A real failure of the real database: the table is missing for one flush.
    await store.client.execute("ALTER TABLE metric_samples RENAME TO metric_samples_away");
    metrics.inc(M.messagesIn, { channel: "telegram" }, 7);
    metrics.observe(M.replyLatency, 3_000, { channel: "telegram" });
    now += 5_000;
    expect(await loop.flush()).toMatchObject({ ok: false, error: "SQLITE_ERROR" });
    await store.client.execute("ALTER TABLE metric_samples_away RENAME TO metric_samples");
    metrics.inc(M.messagesIn, { channel: "telegram" }, 1);
    now += 5_000;
    expect(await loop.flush()).toMatchObject({ ok: true });
    const series = await readSeries(store.client, {
      from: T0,
      to: T0 + HOUR,
      res: HOUR,
      names: [M.messagesIn, M.replyLatency],
    });
    expect(series.map((s) => [s.name, s.points[0]!.value])).toEqual([[M.messagesIn, 13], [
      M.replyLatency,
      2,
    ]]);
    expect(series[1]!.points[0]!.vsum).toBe(3_030);
    expect(metrics.snapshot().find((x) => x.name === M.flushErrors)).toMatchObject({
      labels: { code: "SQLITE_ERROR" },
      value: 1,
    });
    store.close();
  });

  // libsql 0.5.29 leaves a statement that failed with SQLITE_BUSY active, so later COMMITs on that pooled
  // connection would fail; src/store/open.ts drops such connections. This test guards that.
  it(
    "a write that failed with SQLITE_BUSY (lock held past the busy timeout) is carried by the next flush",
    async () => {
      const store = await freshStore("busy.db", 200);
      let now = T0;
      const metrics = createMetrics();
      const loop = createFlushLoop({
        client: store.client,
        sources: [createMetricsWriter({ metrics, agent: "a", retention })],
        intervalMs: 5_000,
        now: () => now,
      });
      metrics.inc(M.messagesIn, { channel: "telegram" }, 5);
      await loop.flush();
      const holder = spawn(process.execPath, [
        join(repoRoot, "test/support/hold-lock.mjs"),
        join(dir, "busy.db"),
      ], { stdio: ["pipe", "pipe", "inherit"] });
      await new Promise((resolve) => holder.stdout.once("data", resolve));
      metrics.inc(M.messagesIn, { channel: "telegram" }, 7);
      now += 5_000;
      expect(await loop.flush()).toMatchObject({ ok: false, error: "SQLITE_BUSY" });
      holder.stdin.end();
      await new Promise((resolve) => holder.on("exit", resolve));
      now += 5_000;
      expect(await loop.flush()).toMatchObject({ ok: true });
      const [s] = await readSeries(store.client, {
        from: T0,
        to: T0 + HOUR,
        res: HOUR,
        names: [M.messagesIn],
      });
      expect(s!.points[0]!.value).toBe(12);
      store.close();
    },
    30_000,
  );

  it("a source that throws fails the flush without rejecting it; the others get their data back", async () => {
    const store = await freshStore("throwing.db");
    const tracer = createTracer({ agent: "a", now: () => T0 });
    tracer.event("t".padEnd(32, "0"), "received");
    const broken = {
      collect: (): never => {
        throw new Error("bug in a source");
      },
    };
    const loop = createFlushLoop({
      client: store.client,
      sources: [tracer.source, broken],
      intervalMs: 5_000,
      now: () => T0,
    });
    expect(await loop.flush()).toMatchObject({ ok: false, error: "UNKNOWN" });
    expect(tracer.peek().map((e) => e.stage)).toEqual(["received"]);
    store.close();
  });

  it("writes trace events 400 to a transaction, and a full batch at once, not at the next interval", async () => {
    const store = await freshStore("bounded.db");
    const { client, calls } = counted(store.client);
    const metrics = createMetrics();
    const tracer = createTracer({ agent: "a", now: () => T0 });
    let tick: (() => void) | undefined;
    const loop = createFlushLoop({
      client,
      sources: [createMetricsWriter({ metrics, agent: "a", retention }), tracer.source],
      intervalMs: 5_000,
      now: () => T0,
      timers: { set: (fn) => (tick = fn), clear: () => (tick = undefined) },
    });
    const traces = () => count(store.client, "SELECT count(*) AS n FROM trace_events");
    const emit = (n: number) => {
      for (let i = 0; i < n; i++) tracer.event(newTraceId(), "received");
    };
    emit(1_000); // before start(): nothing is written until a flush
    await new Promise((r) => setTimeout(r, 50));
    expect(calls.batch).toEqual([]);
    metrics.inc(M.agentStarts);
    const first = await loop.flush();
    // 1,000 events: one batch with the metrics and 400 events, then two of the tracer's own (400, 200).
    expect(first.ok).toBe(true);
    expect(calls.batch).toEqual(["write", "write", "write"]);
    expect(await traces()).toBe(1_000);
    loop.start(); // flushes once more (nothing new) and waits for its interval
    await new Promise((r) => setTimeout(r, 50));
    const before = calls.batch.length;
    emit(399);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls.batch.length).toBe(before); // 399 wait for the interval
    emit(1); // the 400th: written now, without the metrics
    await new Promise((r) => setTimeout(r, 50));
    expect(calls.batch.length).toBe(before + 1);
    expect(await traces()).toBe(1_400);
    expect(tick).toBeDefined(); // the interval still runs
    await loop.stop();
    emit(400); // after stop(): nothing is written
    await new Promise((r) => setTimeout(r, 50));
    expect(await traces()).toBe(1_400);
    store.close();
  });

  it("a write failing in the middle of a drain keeps what it carried: the next flush writes it once", async () => {
    const store = await freshStore("drain-fail.db");
    let batches = 0;
    const failing = new Proxy(store.client, {
      get(target, prop) {
        if (prop === "batch") {
          return (stmts: Parameters<Client["batch"]>[0], mode: Parameters<Client["batch"]>[1]) =>
            ++batches === 2 ? Promise.reject(new Error("disk I/O error")) : target.batch(stmts, mode);
        }
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const tracer = createTracer({ agent: "a", now: () => T0 });
    const loop = createFlushLoop({ client: failing, sources: [tracer.source], intervalMs: 5_000, now: () => T0 });
    for (let i = 0; i < 1_000; i++) tracer.event(String(i).padStart(32, "0"), "received");
    // The first 400 commit, the second batch fails: both statements reported, the failed one's events kept.
    expect(await loop.flush()).toMatchObject({ ok: false, statements: 2 });
    expect(await count(store.client, "SELECT count(*) AS n FROM trace_events")).toBe(400);
    expect(tracer.peek()).toHaveLength(600);
    expect(await loop.flush()).toMatchObject({ ok: true, statements: 2 });
    expect(await count(store.client, "SELECT count(DISTINCT trace_id) AS n FROM trace_events")).toBe(1_000);
    expect(await count(store.client, "SELECT count(*) AS n FROM trace_events")).toBe(1_000);
    store.close();
  });

  it("a flush makes at most 25 transactions; stop() writes what is left", async () => {
    const store = await freshStore("rounds.db");
    const { client, calls } = counted(store.client);
    const tracer = createTracer({ agent: "a", now: () => T0, maxBuffered: 20_000 });
    const loop = createFlushLoop({ client, sources: [tracer.source], intervalMs: 5_000, now: () => T0 });
    for (let i = 0; i < 12_000; i++) tracer.event(newTraceId(), "received");
    expect(await loop.flush()).toMatchObject({ ok: true, statements: 25 });
    // 10,000 written: the rest waits, so the next interval's metrics and heartbeat are not held up behind them.
    expect(await count(store.client, "SELECT count(*) AS n FROM trace_events")).toBe(10_000);
    expect(await loop.stop()).toMatchObject({ ok: true, statements: 5 });
    expect(await count(store.client, "SELECT count(*) AS n FROM trace_events")).toBe(12_000);
    expect(calls.batch).toHaveLength(30);
    store.close();
  });

  it("the loop flushes at start, on its interval, and once more at stop", async () => {
    const store = await freshStore("loop.db");
    const metrics = createMetrics();
    let tick: (() => void) | undefined;
    const loop = createFlushLoop({
      client: store.client,
      sources: [createMetricsWriter({ metrics, agent: "a", retention })],
      intervalMs: 5_000,
      now: () => T0,
      metrics,
      timers: { set: (fn) => (tick = fn), clear: () => (tick = undefined) },
    });
    metrics.inc(M.agentStarts);
    loop.start();
    await new Promise((r) => setTimeout(r, 50));
    const flushes = () => metrics.snapshot().find((s) => s.name === M.flushDuration)?.value ?? 0;
    expect(flushes()).toBe(1);
    metrics.inc(M.agentStarts);
    tick!();
    await new Promise((r) => setTimeout(r, 50));
    expect(flushes()).toBe(2);
    metrics.inc(M.agentStarts);
    await loop.stop();
    expect(tick).toBeUndefined();
    const [s] = await readSeries(store.client, {
      from: T0 - HOUR,
      to: T0 + HOUR,
      res: HOUR,
      names: [M.agentStarts],
    });
    expect(s!.points[0]!.value).toBe(3);
    store.close();
  });
});

interface Proc {
  lines: string[];
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  waitFor(re: RegExp, count?: number): Promise<void>;
}

function flusherProcess(url: string, agent: string, intervalMs: number, durationMs: number): Proc {
  const proc = spawn(denoBin, [
    "run",
    "-A",
    join(repoRoot, "test/metrics/support/flusher-process.ts"),
    url,
    agent,
    String(intervalMs),
    String(durationMs),
  ], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/root", NO_COLOR: "1" },
  });
  const lines: string[] = [];
  let err = "";
  proc.stdout.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean)));
  proc.stderr.on("data", (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", resolve));
  return {
    lines,
    exited,
    kill: (signal) => proc.kill(signal),
    async waitFor(re, n = 1) {
      const deadline = Date.now() + 60_000;
      while (lines.filter((l) => re.test(l)).length < n) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${re}; output: ${lines.join("|")} ${err}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe("metrics flush in real processes", () => {
  it(
    "a process killed with SIGKILL loses at most the increments since its last committed flush",
    async () => {
      const store = await freshStore("crash.db");
      const p = flusherProcess(`file:${join(dir, "crash.db")}`, "crashy", 200, 0);
      await p.waitFor(/^committed /, 4);
      p.kill("SIGKILL");
      expect(await p.exited).toBe(null);
      const committed = p.lines.filter((l) => l.startsWith("committed ")).map((l) => Number(l.split(" ")[1]));
      const [s] = await readSeries(store.client, {
        from: 0,
        to: Date.now() + HOUR,
        res: HOUR,
        names: ["test_ticks_total"],
      });
      const stored = s!.points.reduce((a, pt) => a + pt.value, 0);
      // Everything up to the last flush the process saw commit is stored (a flush that committed just before the
      // kill, unreported, may add one more interval); nothing is counted twice.
      expect(stored).toBeGreaterThanOrEqual(committed.at(-1)!);
      expect(stored - committed.at(-1)!).toBeLessThanOrEqual(200); // at most one 200 ms interval of 2 ms ticks (+ slack)
      store.close();
    },
    90_000,
  );

  it(
    "four processes flushing every 50 ms into one file: no write fails, every increment is stored once",
    async () => {
      const store = await freshStore("concurrent.db");
      const url = `file:${join(dir, "concurrent.db")}`;
      const procs = ["p1", "p2", "p3", "p4"].map((a) => flusherProcess(url, a, 50, 2_000));
      const codes = await Promise.all(procs.map((p) => p.exited));
      expect(codes).toEqual([0, 0, 0, 0]);
      for (const [i, p] of procs.entries()) {
        expect(p.lines.filter((l) => l.startsWith("failed"))).toEqual([]);
        const final = Number(p.lines.find((l) => l.startsWith("final "))!.split(" ")[1]);
        const series = await readSeries(store.client, {
          from: 0,
          to: Date.now() + HOUR,
          res: MINUTE,
          names: ["test_ticks_total"],
          agent: `p${i + 1}`,
        });
        expect(series[0]!.points.reduce((a, pt) => a + pt.value, 0)).toBe(final);
      }
      store.close();
    },
    90_000,
  );
});

describe("non-finite gauge values", () => {
  // A gauge set to NaN or ±Infinity (a 0/0 ratio, a missing limit) is not stored, and the rest of the flush is: the
  // STRICT `metric_samples.value REAL NOT NULL` column refused it, and with it the whole batch (every other metric,
  // the trace events, the heartbeat), again at every interval while the gauge stayed so.
  for (const bad of [NaN, Infinity]) {
    it(`a gauge set to ${bad} does not stop the agent's other metrics and heartbeat from being stored`, async () => {
      const store = await freshStore(`gauge-${String(bad)}.db`);
      await store.client.execute({
        sql: "INSERT INTO agent_heartbeats (agent, pid, version, started_at, seen_at) VALUES ('a', 1, 'v', ?, ?)",
        args: [T0, T0],
      });
      const metrics = createMetrics();
      const now = T0 + 5_000;
      const loop = createFlushLoop({
        client: store.client,
        sources: [createMetricsWriter({ metrics, agent: "a", retention }), createHeartbeatSource("a")],
        intervalMs: 5_000,
        now: () => now,
      });
      metrics.inc(M.messagesIn, { channel: "telegram" }, 3);
      metrics.set(M.quotaHeadroom, bad, { provider: "groq", model: "m", window: "rpm" });
      const report = await loop.flush();
      expect(report.ok).toBe(true);
      const series = await readSeries(store.client, {
        from: T0,
        to: T0 + 60_000,
        res: TEN_SECONDS,
        names: [M.messagesIn],
      });
      expect(series[0]?.points[0]?.value).toBe(3);
      const hb = await store.client.execute("SELECT seen_at FROM agent_heartbeats WHERE agent = 'a'");
      expect(Number(hb.rows[0]?.["seen_at"])).toBe(now);
      store.close();
    });
  }
});
