/**
 * How a running agent gives memory back (src/platform.ts does the calls):
 * - heap compactions (`compactHeap`: V8's last-resort GC, a pause of tens of ms): one 2 s after the start, which
 *   frees start-up's garbage, and one after each burst, once the agent is quiet again (`Compactions.look`);
 * - native heap trims (`trimNativeHeap`: glibc's `malloc_trim(0)` on another thread), paced by what they give back
 *   (`nextTrimDelayMs`). Each trim is also when the agent looks for a compaction after load.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { every, type Every } from "../store/mod.ts";

/** A trim that gave back less than this is a sign of an idle agent. */
const TRIM_WORTH_BYTES = 256 * 1024;
/** How long trims may wait at most while they give nothing back. */
const TRIM_IDLE_MS = 8_000;
/** Below this share of one core since the last trim, the agent is quiet: a compaction then holds up few requests. */
const QUIET_CPU_SHARE = 0.05;
/** Growth of the RSS over its lowest since the last compaction that a compaction after load waits for. */
const GROWN_BYTES = 16 * 2 ** 20;
/** Fewest ms between two compactions (the start's included). */
const COMPACTION_GAP_MS = 60_000;

/**
 * The wait before the next native heap trim: `everyMs` after one that gave back ≥ 256 KiB, else twice the last wait,
 * up to 8 s (an idle agent wakes for its trims once every 8 s, not 4 times a second).
 * @example nextTrimDelayMs(250, 250, 0) // 500
 */
export function nextTrimDelayMs(lastMs: number, everyMs: number, givenBackBytes: number): number {
  if (givenBackBytes >= TRIM_WORTH_BYTES) return everyMs;
  return Math.max(everyMs, Math.min(lastMs * 2, TRIM_IDLE_MS));
}

export interface CompactionsOptions {
  /** One compaction; false when the runtime cannot (then never asked again). */
  compactHeap(): boolean;
  rssBytes(): number;
  /** CPU time this process has used, in ms. */
  cpuTimeMs(): number;
  now(): number;
  log: Logger;
}

export interface Compactions {
  /** The compaction after the start. */
  start(): void;
  /**
   * Looks for a compaction after a burst, given the RSS now; true when it compacted. Due when the process is quiet
   * (under 5 % of a core since the last look), its RSS is ≥ 16 MiB over its lowest since the last compaction, and the
   * last compaction was ≥ 60 s ago.
   */
  look(rssBytes: number): boolean;
  /** No compaction from now on (the agent stops). */
  stop(): void;
}

/** The heap compactions of one agent; each logged as "heap compacted" with its reason and the RSS before and after. */
export function createCompactions(opts: CompactionsOptions): Compactions {
  const { now, log } = opts;
  let able = true;
  let lastAt = -Infinity;
  let lowest = opts.rssBytes();
  let lookedAt = now();
  let lookedCpu = opts.cpuTimeMs();
  const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

  const compact = (reason: "start" | "after load") => {
    if (!able) return false;
    const rssBefore = opts.rssBytes();
    const started = now();
    try {
      able = opts.compactHeap();
    } catch (err) {
      able = false;
      log.warn("heap compaction failed", { err }); // only memory is at stake: never the agent
    }
    if (!able) return false;
    lastAt = now();
    lowest = opts.rssBytes(); // what this compaction left is the new floor: one that gave nothing back is not repeated
    log.info("heap compacted", { reason, ms: lastAt - started, rssMbBefore: mb(rssBefore), rssMbAfter: mb(lowest) });
    return true;
  };

  return {
    start: () => void compact("start"),
    look(rss) {
      const at = now();
      const cpu = opts.cpuTimeMs();
      const quiet = (cpu - lookedCpu) / Math.max(1, at - lookedAt) < QUIET_CPU_SHARE;
      lookedAt = at;
      lookedCpu = cpu;
      lowest = Math.min(lowest, rss);
      return quiet && rss - lowest >= GROWN_BYTES && at - lastAt >= COMPACTION_GAP_MS && compact("after load");
    },
    stop() {
      able = false;
    },
  };
}

/**
 * The native heap trims of a running agent; says once whether they run, and after each one lets `afterTrim` look for a
 * compaction, given the RSS then (a compaction's freed buffers go back to malloc: the next trim then comes at once,
 * after `everyMs`).
 */
export function startTrims(
  trim: () => Promise<boolean>,
  opts: { rssBytes(): number; everyMs?: number | undefined },
  log: Logger,
  afterTrim?: (rssBytes: number) => boolean,
): Every {
  const everyMs = opts.everyMs ?? 250;
  let delayMs = everyMs;
  let first = true;
  const trims = every(() => delayMs, async (signal) => {
    const before = opts.rssBytes();
    let available: boolean;
    try {
      available = await trim();
    } catch (err) {
      log.warn("native heap trim failed", { err }); // once: the trims end here
      return void trims.stop();
    }
    if (first) log.info("native heap trims", { available });
    first = false;
    if (!available) return void trims.stop();
    const after = opts.rssBytes();
    delayMs = nextTrimDelayMs(delayMs, everyMs, before - after);
    if (!signal.aborted && afterTrim?.(after)) delayMs = everyMs;
  });
  trims.start();
  return trims;
}
