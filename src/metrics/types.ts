/**
 * Shared shapes of the metrics folder: what a metric is (its spec), and what a snapshot of one series holds.
 *
 * @module
 */

export type Labels = Readonly<Record<string, string>>;

export type MetricType = "counter" | "gauge" | "histogram";

/** A metric's declaration: name, type, help text, the label names it takes and (histograms) its bucket bounds. */
export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  /** Label names every series of this metric carries, exactly (checked when a series is first seen). */
  readonly labels?: readonly string[];
  /** Histogram only: upper bounds of the finite buckets, ascending (at most `MAX_BUCKETS`). */
  readonly bounds?: readonly number[];
}

/** One series at one moment: counters and gauges have `value`; histograms add `sum` and per-bucket counts. */
export interface SeriesSnapshot {
  readonly name: string;
  readonly type: MetricType;
  /** Canonical JSON of the labels (keys sorted): the series' identity in memory and in the store. */
  readonly key: string;
  readonly labels: Labels;
  /** Counter: total; gauge: current value; histogram: number of observations. */
  readonly value: number;
  /** Histogram: sum of the observations. */
  readonly sum?: number;
  /** Histogram: count per bucket (not cumulative); one more entry than `bounds`, the last is +Inf. */
  readonly buckets?: readonly number[];
}

/** Latency buckets in milliseconds: fine below 50 ms (bus hops, cache hits), coarse up to model latencies. */
export const DEFAULT_BUCKETS_MS: readonly number[] = [
  1,
  2,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1_000,
  2_500,
  5_000,
  10_000,
  30_000,
  60_000,
];

/** Finite buckets a histogram may have: the store keeps one column per bucket (b0 … b20, the last is +Inf). */
export const MAX_BUCKETS = 20;

/** Canonical identity of a label set: JSON with sorted keys. */
export function labelsKey(labels: Labels): string {
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) sorted[k] = labels[k] ?? "";
  return JSON.stringify(sorted);
}
