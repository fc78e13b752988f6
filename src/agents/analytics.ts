/**
 * The analytics agent: serves health and metrics today; the observability issue adds the dashboard, flushes
 * and rollups. Its own check reports how many agents have a fresh heartbeat in the store.
 *
 * @module
 */
import { defineAgent } from "./define.ts";

/** An agent whose heartbeat is older than this is reported as stale. */
const STALE_AFTER_MS = 60_000;

export const analytics = defineAgent({
  kind: "analytics",
  summary: "metrics and dashboard for every agent",
  create({ store, config, now }) {
    return {
      async checks() {
        const rs = await store.client.execute({
          sql: "SELECT agent FROM agent_heartbeats WHERE seen_at >= ?",
          args: [now() - STALE_AFTER_MS],
        });
        const fresh = new Set(rs.rows.map((r) => String(r["agent"])));
        const stale = config.agents.map((a) => a.name).filter((n) => !fresh.has(n));
        return {
          agents: { ok: true, detail: stale.length === 0 ? "all agents seen" : `not seen in 60 s: ${stale.join(", ")}` },
        };
      },
    };
  },
});
