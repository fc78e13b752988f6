/**
 * Aggregates stored series over a window: totals and rates of counters, last/min/max of gauges, percentiles of
 * histograms (merged buckets), and the same per time slot for sparklines and charts.
 *
 * @module
 */
import type { StoredSeries } from "./query.ts";
import { addBuckets, quantileFromBuckets } from "./quantile.ts";
import { bucketStart } from "./tiers.ts";
import type { Labels, MetricType } from "./types.ts";

/** The time window [from, to) and the resolution its points have. */
export interface Window {
  from: number;
  to: number;
  res: number;
}

/** A chart's slots over a window: `window` (the grid), `slots` of `slotMs` each. */
export interface SlotGrid {
  window: Window;
  slots: number;
  slotMs: number;
}

/**
 * At most `max` slots over `w`, each a whole number of buckets: split unevenly (7 days of hourly buckets in 120
 * slots), a steady load would draw a zigzag. The grid may end after `w.to`; its last slot is the one still filling.
 */
export function slotGrid(w: Window, max: number): SlotGrid {
  const buckets = Math.max(1, Math.ceil((w.to - w.from) / w.res));
  const per = Math.ceil(buckets / max);
  const slots = Math.ceil(buckets / per);
  return { window: { ...w, to: w.from + slots * per * w.res }, slots, slotMs: per * w.res };
}

/** Index of the slot (of `slots` equal parts of the window) holding a bucket start; -1 outside. */
export function slotOf(start: number, w: Window, slots: number): number {
  if (start < w.from - w.res || start >= w.to) return -1;
  // Multiplied first: a start on a slot's boundary divided first can land a rounding error short of its slot.
  const i = Math.floor(((Math.max(start, w.from) - w.from) * slots) / (w.to - w.from));
  return Math.min(slots - 1, Math.max(0, i));
}

/** Sum of counter increases (or histogram counts) per slot, over all given series. */
export function counterSlots(series: readonly StoredSeries[], w: Window, slots: number): number[] {
  const out = new Array<number>(slots).fill(0);
  for (const s of series) {
    for (const p of s.points) {
      const i = slotOf(p.start, w, slots);
      if (i >= 0) out[i]! += p.value;
    }
  }
  return out;
}

/**
 * Counters' increase per minute per slot, over complete buckets only: the bucket holding `now` is left out, its
 * slot's rate taken over the buckets before it (null when there are none: on the 15m chart a slot is one bucket).
 * Agents flush every few seconds, each flush into the bucket of its own time: the current bucket is empty until the
 * first flush (a rate of 0), then holds what was counted since the last flush, up to a few seconds of the previous
 * bucket, over the ~1 s the bucket has had (5× the rate).
 */
export function rateSlots(series: readonly StoredSeries[], grid: SlotGrid, now: number): (number | null)[] {
  const { window: w, slots, slotMs } = grid;
  const open = bucketStart(now, w.res);
  const done = series.map((s) => ({ ...s, points: s.points.filter((p) => p.start < open) }));
  const lastSpan = open - (w.from + (slots - 1) * slotMs);
  return counterSlots(done, w, slots).map((v, i) => {
    const span = i < slots - 1 ? slotMs : lastSpan;
    return span > 0 ? (v * 60_000) / span : null;
  });
}

/** Total increase of counters (or observation count of histograms) over the window. */
export function total(series: readonly StoredSeries[]): number {
  return series.reduce((a, s) => a + s.points.reduce((b, p) => b + p.value, 0), 0);
}

/** Sum of the observations of histograms (or of the samples of gauges) over the window. */
export function observedSum(series: readonly StoredSeries[]): number {
  return series.reduce((a, s) => a + s.points.reduce((b, p) => b + (p.vsum ?? 0), 0), 0);
}

/** Histogram buckets merged over all series (bounds of the first; series with other bounds are skipped). */
export function mergedBuckets(
  series: readonly StoredSeries[],
): { bounds: number[]; counts: number[] } | undefined {
  const first = series.find((s) => s.type === "histogram");
  if (!first) return undefined;
  const counts = new Array<number>(first.bounds.length + 1).fill(0);
  for (const s of series) {
    if (s.bounds.join() !== first.bounds.join()) continue;
    for (const p of s.points) if (p.buckets) addBuckets(counts, p.buckets);
  }
  return { bounds: first.bounds, counts };
}

/** The q-quantile of merged histograms per slot (null where a slot has no observations). */
export function quantileSlots(
  series: readonly StoredSeries[],
  w: Window,
  slots: number,
  q: number,
): (number | null)[] {
  const first = series.find((s) => s.type === "histogram");
  if (!first) return new Array<number | null>(slots).fill(null);
  const perSlot = Array.from({ length: slots }, () => new Array<number>(first.bounds.length + 1).fill(0));
  for (const s of series) {
    if (s.bounds.join() !== first.bounds.join()) continue;
    for (const p of s.points) {
      const i = slotOf(p.start, w, slots);
      if (i >= 0 && p.buckets) addBuckets(perSlot[i]!, p.buckets);
    }
  }
  return perSlot.map((c) => quantileFromBuckets(first.bounds, c, q) ?? null);
}

/** A gauge per slot: the average of its samples (null where it has none). */
export function gaugeSlots(s: StoredSeries, w: Window, slots: number): (number | null)[] {
  const sum = new Array<number>(slots).fill(0);
  const n = new Array<number>(slots).fill(0);
  for (const p of s.points) {
    const i = slotOf(p.start, w, slots);
    if (i < 0) continue;
    sum[i]! += p.vsum ?? p.value;
    n[i]! += p.n ?? 1;
  }
  return sum.map((v, i) => (n[i]! > 0 ? v / n[i]! : null));
}

/** The latest value of a gauge in the window. */
export function lastValue(s: StoredSeries): number | undefined {
  return s.points.at(-1)?.value;
}

/**
 * A gauge of shared state (the bus's dead letters, the store's budget left, a provider's breaker) that several
 * agents sample, each under its own name: per `key`, the value of the series sampled last, not their sum.
 */
export function newestBy(
  series: readonly StoredSeries[],
  key: (s: StoredSeries) => string,
): Record<string, number> | undefined {
  const newest = new Map<string, { at: number; value: number }>();
  for (const s of series) {
    const p = s.points.at(-1);
    const k = key(s);
    if (p && !(p.start < (newest.get(k)?.at ?? -Infinity))) newest.set(k, { at: p.start, value: p.value });
  }
  return newest.size === 0 ? undefined : Object.fromEntries([...newest].map(([k, v]) => [k, v.value]));
}

/** The dead letters now: the newest sample of each topic and group's count, whoever sampled it. */
export function deadLettersNow(series: readonly StoredSeries[]): number | undefined {
  const counts = newestBy(series, (s) => JSON.stringify(s.labels));
  return counts && Object.values(counts).reduce((a, n) => a + n, 0);
}

export interface SeriesSummary {
  agent: string;
  name: string;
  type: MetricType;
  help: string;
  labels: Labels;
  /** Counter: increase in the window; gauge: last value; histogram: observations. */
  value: number;
  /** Counter: increase per minute over the window. */
  perMinute?: number;
  /** Counter: increase per minute per slot, over complete buckets (`rateSlots`). */
  rates?: (number | null)[];
  /** Gauge: min and max of the samples. */
  min?: number;
  max?: number;
  /** Histogram: percentiles and mean. */
  p50?: number;
  p90?: number;
  p99?: number;
  mean?: number;
  /** Per slot: counter increase, gauge average, histogram p90 (null = no data). */
  trend: (number | null)[];
}

/** Summarizes one series over the window `w` (ending now), its trend over `grid`'s slots. */
export function summarizeSeries(s: StoredSeries, w: Window, grid: SlotGrid): SeriesSummary {
  const { window: g, slots } = grid;
  const base = { agent: s.agent, name: s.name, type: s.type, help: s.help, labels: s.labels };
  if (s.type === "counter") {
    const value = total([s]);
    return {
      ...base,
      value,
      perMinute: value / ((w.to - w.from) / 60_000),
      trend: counterSlots([s], g, slots),
      rates: rateSlots([s], grid, w.to - 1),
    };
  }
  if (s.type === "gauge") {
    const mins = s.points.map((p) => p.vmin ?? p.value);
    const maxs = s.points.map((p) => p.vmax ?? p.value);
    return {
      ...base,
      value: lastValue(s) ?? 0,
      min: Math.min(...mins),
      max: Math.max(...maxs),
      trend: gaugeSlots(s, g, slots),
    };
  }
  const merged = mergedBuckets([s])!;
  const count = total([s]);
  const sum = observedSum([s]);
  const q = (x: number) => quantileFromBuckets(merged.bounds, merged.counts, x);
  const out: SeriesSummary = { ...base, value: count, trend: quantileSlots([s], g, slots, 0.9) };
  if (count > 0) Object.assign(out, { p50: q(0.5), p90: q(0.9), p99: q(0.99), mean: sum / count });
  return out;
}
