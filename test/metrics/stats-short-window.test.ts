// `aideazz stats --since 5s` (any window shorter than the 10 s resolution) is the current bucket: it started at the
// bucket after the one holding `now - since`, which is after `now` (from > to, no series, "no metrics in this
// window" while the agent had just counted messages, and negative rates).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildStatsReport,
  createFlushLoop,
  createMetrics,
  createMetricsWriter,
  DEFAULT_METRICS_CONFIG,
  M,
  retentionOf,
} from "../../src/metrics/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-stats-since-")));
afterAll(() => cleanup());

const T0 = Date.UTC(2025, 2, 7, 10, 0, 0); // on a 10 s boundary

describe("aideazz stats with a window shorter than its resolution", () => {
  it("--since 5s covers the last seconds, not an empty window ending before it starts", async () => {
    const store = await openStore({ url: `file:${join(dir, "s.db")}` });
    await migrate(store.client);
    const retention = retentionOf(DEFAULT_METRICS_CONFIG);
    const metrics = createMetrics();
    let now = T0 + 6_000;
    const loop = createFlushLoop({
      client: store.client,
      sources: [createMetricsWriter({ metrics, agent: "telegram", retention })],
      intervalMs: 5_000,
      now: () => now,
    });
    metrics.inc(M.messagesIn, { channel: "telegram" }, 4);
    expect((await loop.flush()).ok).toBe(true);
    now = T0 + 7_000;

    const report = await buildStatsReport(store.client, { now, sinceMs: 5_000, retention });
    expect(report.window.from).toBeLessThanOrEqual(now);
    expect(report.window.to).toBeGreaterThan(report.window.from);
    expect(report.kpis.messagesIn).toBe(4);
    store.close();
  });
});
