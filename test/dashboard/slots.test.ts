// Per-slot rates on the dashboard's charts and `aideazz stats`' sparklines: a steady load (one message a minute) is
// flat. Each slot is a whole number of stored buckets; split evenly in time instead (7 days of hourly buckets in 120
// slots of ~1.39 h), some slots held one bucket and others two, and the line zigzagged between 0.7 and 1.4 a minute.
// The slots are summed in SQL: read bucket by bucket, a day of ~120 series at a row a minute (176k rows) took the
// 24h page 8–12 s and grew the agent's process by ~610 MB (its MemoryMax is 256M).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDashboard } from "../../src/agents/dashboard/data.ts";
import type { Config } from "../../src/config.ts";
import {
  createFlushLoop,
  createMetrics,
  createMetricsWriter,
  DEFAULT_METRICS_CONFIG,
  type FlushLoop,
  M,
  type Metrics,
  retentionOf,
} from "../../src/metrics/mod.ts";
import { buildStatsReport, formatStatsReport } from "../../src/metrics/report.ts";
import { type Client, type InStatement, migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

const HOUR = 3_600_000;
const retention = retentionOf(DEFAULT_METRICS_CONFIG);
// 2030-01-15 12:30 UTC: half-way through an hour.
const now = Date.UTC(2030, 0, 15, 12, 30, 0);

let store: Store;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  const t = await tempDir("aideazz-slots-");
  cleanup = t.cleanup;
  store = await openStore({ url: `file:${join(t.dir, "m.db")}` });
  await migrate(store.client);
  let clock = now - 9 * 24 * HOUR;
  const metrics = createMetrics();
  const loop = createFlushLoop({
    client: store.client,
    sources: [createMetricsWriter({ metrics, agent: "telegram-support", retention })],
    intervalMs: 10_000,
    now: () => clock,
  });
  // Nine days at exactly one message a minute, flushed every 10 minutes, then every minute for the last day (its
  // chart's buckets are minutes).
  while (clock <= now - 60_000) {
    const step = clock < now - 25 * HOUR ? 600_000 : 60_000;
    metrics.inc(M.messagesIn, { channel: "telegram" }, step / 60_000);
    await loop.flush();
    clock += step;
  }
});
afterAll(async () => {
  store.close();
  await cleanup();
});

const config = { agents: [], router: {} } as unknown as Config;

/** The client, counting the rows its queries return. */
function counting(client: Client): { client: Client; rows: () => number } {
  let rows = 0;
  const execute = async (stmt: InStatement) => {
    const rs = await client.execute(stmt);
    rows += rs.rows.length;
    return rs;
  };
  const proxy = new Proxy(client, {
    get: (t, k) => (k === "execute" ? execute : Reflect.get(t, k)),
  });
  return { client: proxy, rows: () => rows };
}

describe("per-slot rates under a steady load", () => {
  for (const hours of [5, 7 * 24]) {
    it(`\`aideazz stats\`' ${hours} h sparkline: every slot but the one still filling holds the same count`, async () => {
      const r = await buildStatsReport(store.client, { now, sinceMs: hours * HOUR, retention });
      const trend = r.series.find((x) => x.name === M.messagesIn)!.trend.slice(0, -1);
      expect(new Set(trend).size).toBe(1);
      expect(trend[0]).toBeGreaterThan(0);
    });
  }

  it("`aideazz stats`' 7-day sparkline as printed: the slot still filling is as full as the others (a rate)", async () => {
    // 16 slots of 11 hours: the last holds 2.5 hours so far.
    const r = await buildStatsReport(store.client, { now, sinceMs: 7 * 24 * HOUR, retention, slots: 16 });
    const counts = r.series.find((x) => x.name === M.messagesIn)!.trend;
    expect(counts.at(-1)).toBe(150); // the counts (`--json`): the last slot holds what it has so far
    const line = formatStatsReport(r, "m.db").split("\n").find((l) => l.includes("messages_in_total"))!;
    const glyphs = /([▁▂▃▄▅▆▇█]+)$/.exec(line)![1]!;
    expect(glyphs).toHaveLength(counts.length);
    expect(new Set(glyphs)).toEqual(new Set(["█"]));
  });

  for (const days of [1, 7]) {
    it(`the ${days}d throughput line is flat at 1 message/min, the slot still filling too`, async () => {
      const d = await loadDashboard(store.client, { now, windowMs: days * 24 * HOUR, retention, config });
      const rounded = d.throughput.in.map((v) => Math.round((v ?? NaN) * 100) / 100);
      expect({ min: Math.min(...rounded), max: Math.max(...rounded) }).toEqual({ min: 1, max: 1 });
    });
  }

  it("the 1d page and `stats --since 7d` read a row per slot and series, not per bucket", async () => {
    const rs = await store.client.execute("SELECT count(*) AS n FROM metric_series");
    const series = Number(rs.rows[0]!["n"]);
    const page = counting(store.client);
    const d = await loadDashboard(page.client, { now, windowMs: 24 * HOUR, retention, config });
    // One more per series: the bucket still filling is read apart. Nothing else here (no heartbeats, traces, spend).
    expect(page.rows()).toBeLessThanOrEqual((d.slots + 1) * series); // 1,440 minute rows per series before
    const stats = counting(store.client);
    const r = await buildStatsReport(stats.client, { now, sinceMs: 7 * 24 * HOUR, retention });
    const slots = r.series[0]!.trend.length;
    expect(stats.rows()).toBeLessThanOrEqual((slots + 1) * series); // 168 hourly rows per series before
  });
});

// The 15m chart's slots are single 10-s buckets. Agents flush every 5 s, each flush into the bucket of its own time:
// the bucket holding `now` held nothing before its first flush (the legend's "messages in" read 0/min), then the 5 s
// since the last flush, some of them the previous bucket's, which over the ~1 s the bucket had had read 300/min.
describe("the latest rate under a steady 60 messages/min, flushed every 5 s", () => {
  // A 10-s bucket's start; flushes land 0.5 s into each bucket and 5 s later.
  const bucket = Date.UTC(2030, 0, 15, 12, 0, 0);
  let rateStore: Store;
  let done: () => Promise<void>;
  let clock: number;
  let metrics: Metrics;
  let loop: FlushLoop;
  beforeAll(async () => {
    const t = await tempDir("aideazz-rate-");
    done = t.cleanup;
    rateStore = await openStore({ url: `file:${join(t.dir, "m.db")}` });
    await migrate(rateStore.client);
    metrics = createMetrics();
    loop = createFlushLoop({
      client: rateStore.client,
      sources: [createMetricsWriter({ metrics, agent: "telegram-support", retention })],
      intervalMs: 5_000,
      now: () => clock,
    });
    // 20 minutes of one message a second, the last flush 4.5 s before `bucket`.
    for (clock = bucket - 20 * 60_000 + 500; clock < bucket; clock += 5_000) {
      metrics.inc(M.messagesIn, { channel: "telegram" }, 5);
      await loop.flush();
    }
  });
  afterAll(async () => {
    rateStore.close();
    await done();
  });

  /** The chart's latest value: what its legend shows as "messages in …/min" (the last slot with one). */
  const legend = async (at: number) => {
    const d = await loadDashboard(rateStore.client, { now: at, windowMs: 15 * 60_000, retention, config });
    return d.throughput.in.findLast((v) => v !== null);
  };
  /** `aideazz stats --since 15m`' messages-in sparkline as printed. */
  const sparkline = async (at: number) => {
    const r = await buildStatsReport(rateStore.client, { now: at, sinceMs: 15 * 60_000, retention });
    const line = formatStatsReport(r, "m.db").split("\n").find((l) => l.includes("messages_in_total"))!;
    return /([▁▂▃▄▅▆▇█ ]+)$/.exec(line)![1]!.trim();
  };

  it("is 60/min before and after the first flush into the bucket still filling", async () => {
    expect(await legend(bucket + 400)).toBe(60); // 0 before
    expect(new Set(await sparkline(bucket + 400))).toEqual(new Set(["█"]));
    clock = bucket + 500;
    metrics.inc(M.messagesIn, { channel: "telegram" }, 5);
    await loop.flush();
    expect(await legend(bucket + 1_000)).toBe(60); // ~300 before
    expect(new Set(await sparkline(bucket + 1_000))).toEqual(new Set(["█"]));
  });
});
