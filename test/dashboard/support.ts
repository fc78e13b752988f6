/** Starts the analytics agent in this process (Node) on a seeded store, with or without a dashboard login. */
import { analytics } from "../../src/agents/analytics.ts";
import { type AgentDefinition, runAgent, type RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { serve } from "../../src/platform.ts";
import { freePort } from "../support/ports.ts";

export interface DashboardAgent {
  running: RunningAgent;
  base: string;
  logs(): string;
}

export async function startAnalytics(
  dbUrl: string,
  opts: {
    login?: { user: string; password: string };
    host?: string;
    /** More `dashboard` settings (with a login). */
    dashboard?: Record<string, unknown>;
    now?: () => number;
  } = {},
): Promise<DashboardAgent> {
  const port = await freePort();
  const env: Record<string, string> = opts.login
    ? { DASH_USER: opts.login.user, DASH_PASSWORD: opts.login.password }
    : {};
  const config = loadConfig(
    JSON.stringify({
      agents: [
        {
          name: "telegram-support",
          kind: "telegram",
          port: port + 1,
          telegram: { mode: "polling", tokenEnv: "TG_TOKEN" },
        },
        { name: "orchestrator", kind: "orchestrator", port: port + 2 },
        {
          name: "analytics",
          kind: "analytics",
          port,
          host: opts.host ?? "127.0.0.1",
          ...(opts.login
            ? { dashboard: { userEnv: "DASH_USER", passwordEnv: "DASH_PASSWORD", refreshS: 60, ...opts.dashboard } }
            : {}),
        },
      ],
      router: { budget: { dailyUsd: 3, prices: {} } },
    }),
    env,
    ["analytics"],
  );
  let logs = "";
  const running = await runAgent({
    agent: config.agents.find((a) => a.name === "analytics")!,
    // The runtime takes any kind; the registry pairs each kind with its own config type.
    definition: analytics as unknown as AgentDefinition,
    config,
    dbUrl,
    secrets: env,
    log: createLogger({ agent: "analytics", secrets: Object.values(env), write: (l) => (logs += l) }),
    version: "0.1.0-test",
    now: opts.now ?? Date.now,
    fetch,
    serve,
    rssBytes: () => 60_000_000,
    pid: 2103,
  });
  return { running, base: `http://127.0.0.1:${running.port}`, logs: () => logs };
}
