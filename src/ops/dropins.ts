/**
 * Per-agent drop-ins (`aideazz-agent@<name>.service.d/limits.conf`): the memory, CPU and task limits of the
 * agent's config entry, its CPU weight (src/ops/priority.ts) and its recycling backstop.
 *
 * @module
 */
import type { RecyclePlanEntry } from "./recycle.ts";
import { defaultMemoryHigh } from "./sizes.ts";
import { DEFAULT_TASKS_MAX } from "./units.ts";

export interface AgentLimits {
  memoryMax: string;
  memoryHigh?: string | undefined;
  cpuQuota: string;
  /** `CPUWeight=` (src/ops/priority.ts). */
  cpuWeight: number;
  tasksMax?: number | undefined;
}

export function agentDropIn(name: string, limits: AgentLimits, recycle: RecyclePlanEntry): string {
  return [
    `# Limits and recycling of agent "${name}", rendered by \`aideazz systemd render\` from the config.`,
    "[Service]",
    `MemoryHigh=${limits.memoryHigh ?? defaultMemoryHigh(limits.memoryMax)}`,
    `MemoryMax=${limits.memoryMax}`,
    `CPUQuota=${limits.cpuQuota}`,
    `CPUWeight=${limits.cpuWeight}`,
    `TasksMax=${limits.tasksMax ?? DEFAULT_TASKS_MAX}`,
    recycle.runtimeMaxSec > 0
      ? `# The health job recycles this agent after ${recycle.afterSec} s of uptime; this is systemd's backstop.`
      : "# Recycling is off for this agent.",
    `RuntimeMaxSec=${recycle.runtimeMaxSec > 0 ? recycle.runtimeMaxSec : "infinity"}`,
    `RuntimeRandomizedExtraSec=${recycle.jitterSec}`,
    "",
  ].join("\n");
}
