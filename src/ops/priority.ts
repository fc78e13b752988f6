/**
 * CPU priority between agents. A webhook's 2xx waits for a CPU (the platforms time it, and Telegram and Meta
 * redeliver a slow one), while a reply can wait a few milliseconds more: when agents compete for the cores, the
 * channel agents go first. Each unit gets systemd's `CPUWeight=` (cgroup v2 `cpu.weight`): channels 300, the
 * orchestrator and analytics 100 (systemd's default), overridable per agent with `limits.cpuWeight`. The agents'
 * units share one slice (systemd puts a template's instances in `system-aideazz\x2dagent.slice`), so the weights
 * decide only between agents, and only within each agent's `CPUQuota` (50 % by default): they matter when agents
 * together want more than the cores, e.g. on a 2-core VM or with raised quotas.
 *
 * Measured on the 2-core benchmark machine as `nicesOf` gives it (one cgroup, no `CPUQuota`; four pairs of quick
 * runs taken in turn, 2026-11-28): the webhook ack p99 was lower with it in every pair, at 250/s 14.8–34.6 ms
 * against 19.3–36.6 and at 500/s 30.4–55.6 against 43.9–60.3. README ("Channels first") has the rest.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";

const CHANNEL_CPU_WEIGHT = 300;
/** systemd's own default. */
const DEFAULT_CPU_WEIGHT = 100;

/** The `CPUWeight=` of an agent's unit. */
export function cpuWeightOf(agent: Pick<AgentConfig, "kind" | "limits">): number {
  if (agent.limits?.cpuWeight !== undefined) return agent.limits.cpuWeight;
  return agent.kind === "orchestrator" || agent.kind === "analytics" ? DEFAULT_CPU_WEIGHT : CHANNEL_CPU_WEIGHT;
}

/**
 * The agents' weights as nice increments, for processes that share one cgroup (no systemd: `aideazz up`, the
 * benchmark): each nice step is a factor of 1.25 in Linux's weight table, so 100 against 300 is nice 5. The agents
 * with the largest weight get 0 (raising a priority needs privileges, lowering one does not); at most 19.
 */
export function nicesOf(agents: readonly Pick<AgentConfig, "name" | "kind" | "limits">[]): Map<string, number> {
  const top = Math.max(...agents.map(cpuWeightOf));
  return new Map(agents.map((a) => [a.name, Math.min(19, Math.round(Math.log(top / cpuWeightOf(a)) / Math.log(1.25)))]));
}

/**
 * A command line started with coreutils' `nice -n <by>` when `by` > 0: every thread of the process starts at that
 * priority (setting it after the start would miss the threads V8 has already created), relative to the caller's
 * own, and `nice` execs the command, so the pid is the command's.
 */
export function niced(by: number, command: string, args: readonly string[]): [string, string[]] {
  return by > 0 ? ["nice", ["-n", String(by), command, ...args]] : [command, [...args]];
}
