/**
 * CPU priority between agents. A webhook's 2xx waits for a CPU (the platforms time it, and Telegram and Meta
 * redeliver a slow one), while a reply can wait a few milliseconds more: when agents compete for the cores, the
 * channel agents go first. Each unit gets systemd's `CPUWeight=` (cgroup v2 `cpu.weight`, default 100 for every
 * unit): channels 300, the orchestrator and analytics 100, overridable per agent with `limits.cpuWeight`.
 *
 * Measured on the 2-core benchmark machine (quick runs taken in turn, 2026-11-28): with the orchestrator and
 * analytics at nice 5 (a third of the channels' weight, `niceFor`), the webhook ack p99 at 250/s was 14.6–46.6 ms
 * over seven runs against 22.3–84.5 over six without, each run with it below the run without it next to it; at
 * 500/s it was lower in five pairs of seven. Replies/s and reply p50 up to 500/s stayed within the noise. Past the
 * cores' capacity replies wait longer (reply p50 at 1,000/s 133–498 ms against 84–726), acks do not.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";

const CHANNEL_CPU_WEIGHT = 300;
/** systemd's own default for every unit (the llama.cpp sidecar, the health job, the rest of the system). */
const DEFAULT_CPU_WEIGHT = 100;

/** The `CPUWeight=` of an agent's unit. */
export function cpuWeightOf(agent: Pick<AgentConfig, "kind" | "limits">): number {
  if (agent.limits?.cpuWeight !== undefined) return agent.limits.cpuWeight;
  return agent.kind === "orchestrator" || agent.kind === "analytics" ? DEFAULT_CPU_WEIGHT : CHANNEL_CPU_WEIGHT;
}

/**
 * The nice value that gives processes sharing one cgroup (no systemd: `aideazz up`, the benchmark) the CPU share
 * `weight` has against `top`, the largest weight among them: each nice step is a factor of 1.25 in Linux's weight
 * table, so 100 against 300 is nice 5. `top` itself gets 0: raising a priority needs privileges, lowering one does
 * not.
 */
export function niceFor(weight: number, top: number): number {
  return Math.min(19, Math.max(0, Math.round(Math.log(top / weight) / Math.log(1.25))));
}
