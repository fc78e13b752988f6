// Per-slot rates on the dashboard's charts and `aideazz stats`' sparklines: a steady load (one message a minute) is
// flat. Each slot is a whole number of stored buckets; split evenly in time instead (7 days of hourly buckets in 120
// slots of ~1.39 h), some slots held one bucket and others two, and the line zigzagged between 0.7 and 1.4 a minute.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDashboard } from "../../src/agents/dashboard/data.ts";
import type { Config } from "../../src/config.ts";
import {
  createFlushLoop,
  createMetrics,
  createMetricsWriter,
  DEFAULT_METRICS_CONFIG,
  M,
  retentionOf,
} from "../../src/metrics/mod.ts";
import { buildStatsReport, formatStatsReport } from "../../src/metrics/report.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
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
      const rounded = d.throughput.in.map((v) => Math.round(v * 100) / 100);
      expect({ min: Math.min(...rounded), max: Math.max(...rounded) }).toEqual({ min: 1, max: 1 });
    });
  }
});
