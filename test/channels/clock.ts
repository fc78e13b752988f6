import type { Sleep } from "../../src/agents/channel/sleep.ts";

/**
 * A virtual clock for single-flow tests: `sleep` advances time at once (after a macrotask, so HTTP and other
 * work interleave). Use it where one sequence of waits runs at a time (one chat's sends).
 */
export function virtualClock(
  start = 1_750_000_000_000,
): { now: () => number; sleep: Sleep; slept: number[] } {
  let t = start;
  const slept: number[] = [];
  return {
    now: () => t,
    slept,
    sleep: (ms, signal) => {
      if (signal?.aborted) return Promise.reject(signal.reason);
      slept.push(ms);
      t += Math.max(0, ms);
      return new Promise((resolve) => setTimeout(resolve, 0));
    },
  };
}
