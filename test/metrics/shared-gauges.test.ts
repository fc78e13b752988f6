// Gauges of state the whole system shares (the bus's dead letters) are sampled by every analytics agent, each under
// its own name: the KPIs take the newest sample, not the sum over agents (two dashboards on one database showed
// twice the dead letters there are).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analytics } from "../../src/agents/analytics.ts";
import { type AgentDefinition, runAgent, type RunningAgent } from "../../src/agents/mod.ts";
import { createSqliteBus, PermanentError } from "../../src/bus/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { buildStatsReport, DEFAULT_METRICS_CONFIG, retentionOf } from "../../src/metrics/mod.ts";
import { serve } from "../../src/platform.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-shared-gauges-")));
afterAll(() => cleanup());

async function waitFor(check: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("gauges of the shared bus, with two analytics agents on one database", () => {
  it("the dead-letter KPI (dashboard, aideazz stats) and the Errors card count each dead letter once", async () => {
    const dbUrl = `file:${join(dir, "two-dashboards.db")}`;
    const store = await openStore({ url: dbUrl });
    await migrate(store.client);
    // One real dead letter on the shared bus.
    const bus = createSqliteBus(store);
    await bus.subscribe("inbound", "orchestrator");
    await bus.publish([{ topic: "inbound", key: "chat-1", payload: { bad: true } }]);
    const consumer = bus.consume({
      topic: "inbound",
      group: "orchestrator",
      maxAttempts: 3,
      handler: () => Promise.reject(new PermanentError("malformed")),
    });
    await waitFor(async () => (await bus.deadLetters()).length === 1, "the dead letter");
    await consumer.stop(1_000);
    await bus.close();
    store.close();

    // Two dashboards: one on loopback for `ssh -L`, one more (e.g. behind a login for the team) — both analytics.
    const [p1, p2] = [await freePort(), await freePort()];
    const config = loadConfig(
      JSON.stringify({
        agents: [
          { name: "orchestrator", kind: "orchestrator", port: p1 + 2 },
          { name: "analytics", kind: "analytics", port: p1, host: "127.0.0.1" },
          { name: "analytics-team", kind: "analytics", port: p2, host: "127.0.0.1" },
        ],
        metrics: { flushIntervalMs: 500 },
      }),
      {},
      ["analytics", "analytics-team"],
    );
    const agents: RunningAgent[] = [];
    try {
      for (const name of ["analytics", "analytics-team"]) {
        agents.push(
          await runAgent({
            agent: config.agents.find((a) => a.name === name)!,
            definition: analytics as unknown as AgentDefinition,
            config,
            dbUrl,
            secrets: {},
            log: createLogger({ agent: name, secrets: [], write: () => {} }),
            version: "0.1.0-test",
            now: Date.now,
            fetch,
            serve,
            rssBytes: () => 60_000_000,
            pid: name === "analytics" ? 3101 : 3102,
          }),
        );
      }
      // Both have sampled the bus (at start) and written it.
      for (const a of agents) await a.flush();

      const res = await fetch(`http://127.0.0.1:${agents[0]!.port}/api/dashboard`);
      const data = await res.json() as {
        kpis: { deadLetters?: number };
        errors: { label: string; count: number }[];
      };
      const check = await openStore({ url: dbUrl });
      const report = await buildStatsReport(check.client, {
        now: Date.now(),
        sinceMs: 3_600_000,
        retention: retentionOf(DEFAULT_METRICS_CONFIG),
      });
      check.close();

      expect({
        dashboardKpi: data.kpis.deadLetters,
        errorsCard: data.errors.find((e) => e.label === "dead letters (now)")?.count,
        statsKpi: report.kpis.deadLetters,
      }).toEqual({ dashboardKpi: 1, errorsCard: 1, statsKpi: 1 });
    } finally {
      for (const a of agents) await a.stop();
    }
  }, 60_000);
});
