import process from "node:process";
import { agentKinds, runAgent, type RunAgentOptions, type RunningAgent } from "../../src/agents/mod.ts";
import type { Config } from "../../src/config.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { serve } from "../../src/platform.ts";

export interface TestAgentOptions {
  config: Config;
  /** The configured agent to run. */
  name: string;
  secrets: Record<string, string>;
  /** Default: the config's store URL. */
  dbUrl?: string;
  /** Default: a logger that redacts `secrets` and drops every line. */
  log?: Logger;
  /** The agent's clock (default Date.now): agents sharing a store share one, as they share the wall clock. */
  now?: () => number;
  /** The process's side of the runtime (default: RSS 0, no heap compaction, no native heap trims). */
  runtime?: Pick<
    RunAgentOptions,
    "rssBytes" | "compactHeap" | "compactHeapAfterMs" | "cpuTimeMs" | "trimNativeHeap" | "trimNativeHeapEveryMs"
  >;
}

/** Runs one configured agent inside the test process, as `aideazz agent <name>` would (real fetch and HTTP server). */
export async function runTestAgent(opts: TestAgentOptions): Promise<RunningAgent> {
  const agent = opts.config.agents.find((a) => a.name === opts.name);
  if (!agent) throw new Error(`runTestAgent: no agent named "${opts.name}" in the config`);
  const load = agentKinds[agent.kind];
  if (!load) throw new Error(`runTestAgent: kind "${agent.kind}" is not built in`);
  return runAgent({
    agent,
    definition: (await load()) as never,
    config: opts.config,
    dbUrl: opts.dbUrl ?? opts.config.store.url,
    secrets: opts.secrets,
    log: opts.log ?? createLogger({ agent: opts.name, secrets: Object.values(opts.secrets), write: () => {} }),
    version: "test",
    now: opts.now ?? Date.now,
    fetch: globalThis.fetch.bind(globalThis),
    serve,
    rssBytes: () => 0,
    pid: process.pid,
    ...opts.runtime,
  });
}
