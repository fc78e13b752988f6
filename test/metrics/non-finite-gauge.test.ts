// A gauge set to NaN or ±Infinity (a 0/0 ratio, a missing limit) is not stored, and the rest of the flush is: the
// STRICT `metric_samples.value REAL NOT NULL` column refused it, and with it the whole batch (every other metric, the
// trace events, the heartbeat), again at every interval while the gauge stayed so.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFlushLoop,
  createHeartbeatSource,
  createMetrics,
  createMetricsWriter,
  DEFAULT_METRICS_CONFIG,
  M,
  readSeries,
  retentionOf,
  TEN_SECONDS,
} from "../../src/metrics/mod.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("review-metrics-nan-")));
afterAll(() => cleanup());

const T0 = Date.UTC(2025, 2, 7, 10, 0, 0);

async function freshStore(name: string): Promise<Store> {
  const store = await openStore({ url: `file:${join(dir, name)}` });
  await migrate(store.client);
  return store;
}

describe("non-finite gauge values", () => {
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
        sources: [
          createMetricsWriter({ metrics, agent: "a", retention: retentionOf(DEFAULT_METRICS_CONFIG) }),
          createHeartbeatSource("a"),
        ],
        intervalMs: 5_000,
        now: () => now,
      });
      metrics.inc(M.messagesIn, { channel: "telegram" }, 3);
      try {
        metrics.set(M.quotaHeadroom, bad, { provider: "groq", model: "m", window: "rpm" });
      } catch {
        // A registry that refuses the value (as observe() does) is a fix too.
      }
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
