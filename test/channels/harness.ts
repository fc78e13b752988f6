/**
 * Runs one channel agent in this process on a real store and a real HTTP port (the production runtime:
 * runAgent), with captured logs, plus helpers to look at what it committed.
 */
import { join } from "node:path";
import { type RunningAgent } from "../../src/agents/mod.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import type { Bus } from "../../src/bus/types.ts";
import type { AgentDeps } from "../../src/agents/define.ts";
import type { TelegramAgentConfig } from "../../src/agents/telegram/mod.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import type { Store } from "../../src/store/mod.ts";
import { createTracer } from "../../src/trace/mod.ts";
import { createLogger } from "../../src/log.ts";
import { createRedactor } from "../../src/redact.ts";
import { freePort } from "../support/ports.ts";
import { runTestAgent } from "../support/agent.ts";

export interface Channel {
  url: string;
  running: RunningAgent;
  logs: string[];
  /** A second bus on the agent's store, for test-side consumers and publishers. */
  bus: Bus;
  stop(): Promise<void>;
  count(sql: string, ...args: (string | number)[]): Promise<number>;
  rows(sql: string, ...args: (string | number)[]): Promise<Record<string, unknown>[]>;
  /** Inbound messages committed, oldest first (payloads). */
  inbound(): Promise<Record<string, unknown>[]>;
}

export interface ChannelOptions {
  dir: string;
  agent: Record<string, unknown>;
  secrets: Record<string, string>;
  roles?: Record<string, unknown>;
  dbFile?: string;
}

export async function startChannel(opts: ChannelOptions): Promise<Channel> {
  const port = await freePort();
  const dbUrl = `file:${join(opts.dir, opts.dbFile ?? "channel.db")}`;
  const config = loadConfig(
    JSON.stringify({ store: { url: dbUrl }, roles: opts.roles ?? {}, agents: [{ port, ...opts.agent }] }),
    opts.secrets,
  );
  const agent = config.agents[0]!;
  const logs: string[] = [];
  const log = createLogger({
    agent: agent.name,
    secrets: Object.values(opts.secrets),
    write: (l) => void logs.push(l),
    level: "debug",
  });
  const running = await runTestAgent({ config, name: agent.name, dbUrl, secrets: opts.secrets, log });
  const bus = createSqliteBus(running.store);
  const client = running.store.client;
  const rows = async (sql: string, ...args: (string | number)[]) =>
    (await client.execute({ sql, args })).rows.map((r) => ({ ...r }));
  return {
    url: `http://127.0.0.1:${running.port}`,
    running,
    logs,
    bus,
    async stop() {
      await bus.close();
      await running.stop();
    },
    rows,
    async count(sql, ...args) {
      const r = await rows(sql, ...args);
      return Number(Object.values(r[0] ?? {})[0] ?? 0);
    },
    async inbound() {
      const r = await rows("SELECT payload FROM bus_messages WHERE topic = 'inbound' ORDER BY id");
      return r.map((x) => JSON.parse(String(x["payload"])));
    },
  };
}

/**
 * The config entry of WhatsApp agent "wa" on phone number `phoneNumberId`, reading the tests' usual secrets
 * (WA_APP_SECRET, WA_TOKEN, WA_VERIFY); `whatsapp` adds to its `whatsapp` section, `extra` to the entry.
 */
export function whatsappAgent(
  o: { phoneNumberId: string; graphBaseUrl: string; whatsapp?: Record<string, unknown> },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name: "wa",
    kind: "whatsapp",
    ...extra,
    whatsapp: {
      phoneNumberId: o.phoneNumberId,
      appSecretEnv: "WA_APP_SECRET",
      accessTokenEnv: "WA_TOKEN",
      verifyTokenEnv: "WA_VERIFY",
      graphBaseUrl: o.graphBaseUrl,
      ...o.whatsapp,
    },
  };
}

/** Waits until `check` returns true (polling), or throws after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** AgentDeps for building an agent directly (no runAgent), e.g. to inject a bus. */
export function depsFor(
  store: Store,
  config: Config,
  secrets: Record<string, string>,
  logs: string[] = [],
): AgentDeps {
  return {
    store,
    log: createLogger({
      agent: config.agents[0]!.name,
      secrets: Object.values(secrets),
      write: (l) => void logs.push(l),
      level: "debug",
    }),
    metrics: createMetrics(),
    tracer: createTracer({ agent: config.agents[0]!.name, now: Date.now }),
    config,
    now: Date.now,
    fetch: globalThis.fetch.bind(globalThis),
    version: "test",
    secrets,
    redact: createRedactor(Object.values(secrets)),
  };
}

/** The config's first agent, which a test declared as a telegram agent. */
export function telegramAgentOf(config: Config): TelegramAgentConfig {
  const agent = config.agents[0];
  if (agent?.kind !== "telegram") throw new Error("the test config's first agent is not a telegram agent");
  return agent;
}
