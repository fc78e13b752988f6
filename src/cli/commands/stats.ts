import { displayDbUrl } from "../../store/mod.ts";
import {
  buildStatsReport,
  DEFAULT_METRICS_CONFIG,
  formatStatsReport,
  hasMetricsTables,
  parseDuration,
  retentionOf,
} from "../../metrics/mod.ts";
import { defineCommand, UsageError } from "../command.ts";
import { openReadStore, stringOption } from "../context.ts";

export const statsCommand = defineCommand({
  name: "stats",
  summary:
    "summary of the stored metrics: agents, traffic, latency, cache, spend, errors (table + sparklines)",
  options: { since: { type: "string" }, json: { type: "boolean" }, agent: { type: "string" } },
  optionHelp: [
    "--since DURATION  window ending now, e.g. 15m, 1h, 24h, 7d (default 1h)",
    "--agent NAME      only this agent's series",
    "--json            print the report as JSON",
  ],
  async run({ values, deps }) {
    const sinceText = stringOption(values, "since") ?? "1h";
    const sinceMs = parseDuration(sinceText);
    if (sinceMs === undefined) {
      throw new UsageError(`--since must be a duration like 15m, 1h or 7d, got "${sinceText}"`, statsCommand);
    }
    // A window starting before the epoch has no date to print (and no metrics).
    if (sinceMs >= deps.now()) {
      throw new UsageError(`--since must not reach back before 1970, got "${sinceText}"`, statsCommand);
    }
    const { store, url, config } = await openReadStore(values, deps);
    try {
      if (!(await hasMetricsTables(store.client))) {
        deps.stderr(
          `stats: ${displayDbUrl(url)} has no metrics yet; start an agent or run 'aideazz migrate'\n`,
        );
        return 1;
      }
      const agent = stringOption(values, "agent");
      const report = await buildStatsReport(store.client, {
        now: deps.now(),
        sinceMs,
        retention: retentionOf(config?.metrics ?? DEFAULT_METRICS_CONFIG),
        ...(agent === undefined ? {} : { agent }),
      });
      if (agent !== undefined && report.agents.length === 0) {
        const rs = await store.client.execute("SELECT agent FROM agent_heartbeats ORDER BY agent");
        const known = rs.rows.map((r) => String(r["agent"]));
        deps.stderr(`stats: no agent "${agent}" on this database${known.length > 0 ? `; agents: ${known.join(", ")}` : ""}\n`);
        return 1;
      }
      if (values["json"] === true) deps.stdout(JSON.stringify(report, null, 2) + "\n");
      else deps.stdout(formatStatsReport(report, `${displayDbUrl(url)}`));
      return 0;
    } finally {
      store.close();
    }
  },
});
