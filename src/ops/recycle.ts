/**
 * Periodic recycling (what PM2's 6-hourly restarts did), without two agents ever recycling together.
 *
 * Primary: the health job (every minute) gracefully restarts at most one agent per run — the healthy agent
 * most overdue for its staggered recycle age — and never within `minGapSec` of any other restart
 * (`planRecycle`). That holds forever, whatever crashes shifted the agents' start times.
 * Backstop: each unit's `RuntimeMaxSec` = its recycle age + `backstopSec`, with `RuntimeRandomizedExtraSec`
 * capped so that agents started together (boot) reach their backstops at least 5 s apart (`recycleSchedule`).
 *
 * @module
 */

export interface RecycleSettings {
  afterSec: number;
  spreadSec: number;
  minGapSec: number;
  backstopSec: number;
  jitterSec: number;
}

export interface RecyclePlanEntry {
  agent: string;
  /** Uptime at which the health job recycles the agent; 0 = never. */
  afterSec: number;
  /** The unit's RuntimeMaxSec; 0 = infinity. */
  runtimeMaxSec: number;
  /** The unit's RuntimeRandomizedExtraSec. */
  jitterSec: number;
}

/** Minimum seconds between two backstop recycles of agents that started at the same moment. */
export const BACKSTOP_MIN_GAP_SEC = 5;

/**
 * Staggered recycle ages and backstop settings for the agents, in config order.
 *
 * @example
 * ```ts
 * recycleSchedule([{ name: "a" }, { name: "b" }], { afterSec: 21600, spreadSec: 3600, minGapSec: 60, backstopSec: 3600, jitterSec: 300 });
 * // a: after 21600 s (RuntimeMaxSec 25200), b: after 23400 s (RuntimeMaxSec 27000); jitter 300 s each
 * ```
 */
export function recycleSchedule(
  agents: readonly { name: string; recycleAfterSec?: number | undefined }[],
  s: RecycleSettings,
): RecyclePlanEntry[] {
  const recycled = agents.filter((a) => (a.recycleAfterSec ?? s.afterSec) > 0);
  const n = recycled.length;
  const after = new Map(
    recycled.map((a, i) => [a.name, (a.recycleAfterSec ?? s.afterSec) + Math.round((i * s.spreadSec) / n)]),
  );
  // Backstops at least 5 s apart, whatever the ages (a `spreadSec` of 0, an agent's own `recycleAfterSec` landing on
  // another's staggered age): each one later than the one before it by 5 s at least.
  const backstop = new Map<string, number>();
  let previous = -Infinity;
  let minDiff = Infinity;
  for (const [name, age] of [...after].sort((x, y) => x[1] - y[1])) {
    const at = Math.max(age + s.backstopSec, previous + BACKSTOP_MIN_GAP_SEC);
    minDiff = Math.min(minDiff, at - previous);
    backstop.set(name, previous = at);
  }
  // Two agents started together reach their backstops at (b_i + U_i) and (b_j + U_j), U in [0, jitter]:
  // |difference| ≥ |b_i - b_j| - jitter, so jitter ≤ minDiff - 5 keeps them 5 s apart.
  const jitter = Math.max(0, Math.min(s.jitterSec, minDiff - BACKSTOP_MIN_GAP_SEC));
  return agents.map((a) => {
    const afterSec = after.get(a.name) ?? 0;
    return afterSec === 0
      ? { agent: a.name, afterSec: 0, runtimeMaxSec: 0, jitterSec: 0 }
      : { agent: a.name, afterSec, runtimeMaxSec: backstop.get(a.name)!, jitterSec: jitter };
  });
}

export interface RecycleCandidate {
  agent: string;
  /** Seconds the agent has been running (from its /health), undefined when it did not answer. */
  uptimeSec: number | undefined;
  healthy: boolean;
  afterSec: number;
  /**
   * Its memory is past its MemoryHigh or `ops.health.memoryWarnFraction` of its MemoryMax: recycled first once it
   * has run `MEMORY_RECYCLE_MIN_UPTIME_SEC` (an agent that is that big soon after its start is not helped by
   * another restart).
   */
  memoryHigh?: boolean;
}

/** Uptime before a memory recycle: an agent over its memory mark again right after a restart is not restarted in a loop. */
export const MEMORY_RECYCLE_MIN_UPTIME_SEC = 600;

/**
 * The one agent to recycle now, if any: healthy, and first one whose memory is near its MemoryMax (a graceful stop
 * now rather than the kernel's kill later), else past its recycle age, the most overdue; nothing when any agent was
 * (re)started less than `minGapSec` ago.
 */
export function planRecycle(
  candidates: readonly RecycleCandidate[],
  opts: { now: number; lastRestartAt: number | undefined; minGapSec: number },
): string | undefined {
  if (opts.lastRestartAt !== undefined && opts.now - opts.lastRestartAt < opts.minGapSec * 1000) {
    return undefined;
  }
  let best: { agent: string; overdue: number } | undefined;
  for (const c of candidates) {
    if (!c.healthy) continue;
    const overdue = c.memoryHigh === true && (c.uptimeSec ?? 0) >= MEMORY_RECYCLE_MIN_UPTIME_SEC
      ? Infinity
      : c.afterSec <= 0 || c.uptimeSec === undefined
      ? -1
      : c.uptimeSec - c.afterSec;
    if (overdue >= 0 && (best === undefined || overdue > best.overdue)) best = { agent: c.agent, overdue };
  }
  return best?.agent;
}
