/**
 * Process gauges every agent reports: resident memory and uptime. Sampled before each flush and each scrape.
 *
 * @module
 */
import { M } from "./names.ts";
import type { Metrics } from "./registry.ts";

export interface ProcessSamplerOptions {
  metrics: Metrics;
  rssBytes: () => number;
  now: () => number;
  startedAt: number;
}

/** Returns a function that sets the process gauges to their current values. */
export function createProcessSampler(opts: ProcessSamplerOptions): () => void {
  return () => {
    opts.metrics.set(M.rss, opts.rssBytes());
    opts.metrics.set(M.uptime, Math.round((opts.now() - opts.startedAt) / 1000));
  };
}
