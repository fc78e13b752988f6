/**
 * The analytics agent: the dashboard (throughput, latency, cache, providers, spend, quotas, errors, memory,
 * recent traces) on its port, the bus gauges of the whole system (sampled every flush interval), and a check of
 * how many agents have a fresh heartbeat. It refuses to start bound to an address other machines can reach
 * unless the dashboard has a login.
 *
 * @module
 */
import { createSqliteBus } from "../bus/mod.ts";
import { retentionOf } from "../metrics/mod.ts";
import { storeErrorCode } from "../store/mod.ts";
import { assertSafeBinding, loginOf } from "./dashboard/auth.ts";
import { sampleBusGauges } from "./dashboard/bus-gauges.ts";
import { mountDashboard } from "./dashboard/routes.ts";
import { defineAgent } from "./define.ts";

/** An agent whose heartbeat is older than this is reported as stale. */
const STALE_AFTER_MS = 60_000;

export const analytics = defineAgent({
  kind: "analytics",
  summary: "metrics and dashboard for every agent",
  create({ store, config, now, secrets, version, log, metrics }, agent) {
    const login = loginOf(agent.dashboard, secrets);
    assertSafeBinding(agent.name, agent.host, login);
    if (!login) log.info("dashboard has no login; served on loopback only", { host: agent.host });
    const bus = createSqliteBus(store, { log, now });
    let timer: ReturnType<typeof setInterval> | undefined;
    const sample = () =>
      sampleBusGauges(bus, metrics).catch((err) =>
        log.warn("bus stats failed", { code: storeErrorCode(err) })
      );
    return {
      async start() {
        await sample();
        timer = setInterval(sample, config.metrics.flushIntervalMs);
      },
      async stop() {
        clearInterval(timer);
        await bus.close();
      },
      routes(app) {
        mountDashboard(app, {
          client: store.client,
          config,
          retention: retentionOf(config.metrics, config.conversation.retentionDays),
          now,
          agent: agent.name,
          version,
          login,
          loginLimit: {
            failedPerMinute: agent.dashboard?.failedLoginsPerMinute ?? 10,
            clientAddressHeader: agent.dashboard?.clientAddressHeader,
          },
          refreshS: agent.dashboard?.refreshS ?? 30,
        });
      },
      async checks() {
        const rs = await store.client.execute({
          sql: "SELECT agent FROM agent_heartbeats WHERE seen_at >= ?",
          args: [now() - STALE_AFTER_MS],
        });
        const fresh = new Set(rs.rows.map((r) => String(r["agent"])));
        const stale = config.agents.map((a) => a.name).filter((n) => !fresh.has(n));
        return {
          agents: {
            ok: true,
            detail: stale.length === 0 ? "all agents seen" : `not seen in 60 s: ${stale.join(", ")}`,
          },
        };
      },
    };
  },
});
