/**
 * In-memory metrics of one agent: counters, gauges and latency histograms with labels. `/metrics` renders them
 * in the Prometheus text format (prometheus.ts); the flusher (store-source.ts) writes their increase to the
 * store every few seconds.
 *
 * Catalogued names (names.ts) are checked: using one with the wrong type or the wrong label names throws, so a
 * typo fails its area's tests instead of creating a series nobody reads. Unknown names are created on first use.
 *
 * @module
 */
import { CATALOGUE, METRICS } from "./names.ts";
import { toPrometheusText } from "./prometheus.ts";
import {
  DEFAULT_BUCKETS_MS,
  type Labels,
  labelsKey,
  MAX_BUCKETS,
  type MetricSpec,
  type MetricType,
  type SeriesSnapshot,
} from "./types.ts";

export type { Labels, MetricSpec, MetricType, SeriesSnapshot } from "./types.ts";
export { DEFAULT_BUCKETS_MS } from "./types.ts";

export interface Metrics {
  /** Adds `by` (default 1, never negative) to a counter. */
  inc(name: string, labels?: Labels, by?: number): void;
  /** Sets a gauge. */
  set(name: string, value: number, labels?: Labels): void;
  /** Records one observation (milliseconds for `_ms` histograms) in a histogram. */
  observe(name: string, value: number, labels?: Labels): void;
  /** Declares (or re-declares) a metric: type, help text, label names and histogram bounds. */
  describe(spec: MetricSpec): void;
  /** The declaration of a metric, if it is catalogued, described or used. */
  spec(name: string): MetricSpec | undefined;
  /** Prometheus text exposition format (version 0.0.4). */
  render(): string;
  /** Every series' current totals, grouped by metric in first-use order. */
  snapshot(): SeriesSnapshot[];
}

export interface MetricsOptions {
  /** Declarations checked on use; default: the whole catalogue of names.ts. */
  catalogue?: readonly MetricSpec[];
  /** Label sets one metric may have; more are dropped and counted (a label carrying a chat id would explode). */
  maxSeriesPerMetric?: number;
}

/** A metric used against its declaration (wrong type, wrong labels, bad value): a bug in the caller. */
export class MetricError extends Error {
  constructor(readonly metric: string, message: string) {
    super(`metric ${metric}: ${message}`);
    this.name = "MetricError";
  }
}

interface Series {
  labels: Labels;
  value: number;
  sum: number;
  buckets: number[] | undefined;
}

interface Family {
  spec: MetricSpec;
  bounds: readonly number[];
  series: Map<string, Series>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label name Prometheus takes: not reserved (`__…`), and not a histogram's own `le`. */
function checkLabelName(spec: Pick<MetricSpec, "name" | "type">, l: string): void {
  if (!LABEL.test(l) || l.startsWith("__")) throw new MetricError(spec.name, `invalid label name "${l}"`);
  if (spec.type === "histogram" && l === "le") throw new MetricError(spec.name, 'a histogram cannot use label "le"');
}

function validateSpec(spec: MetricSpec): void {
  if (!NAME.test(spec.name)) throw new MetricError(spec.name, "invalid metric name");
  for (const l of spec.labels ?? []) checkLabelName(spec, l);
  const bounds = spec.bounds ?? [];
  if (bounds.length > MAX_BUCKETS) throw new MetricError(spec.name, `at most ${MAX_BUCKETS} buckets`);
  if (bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))) {
    throw new MetricError(spec.name, "bucket bounds must be finite and ascending");
  }
}

function sameLabelNames(declared: readonly string[], labels: Labels): boolean {
  const keys = Object.keys(labels);
  return keys.length === declared.length && declared.every((l) => l in labels);
}

/** Creates an empty registry. */
export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const declared = new Map<string, MetricSpec>();
  for (const spec of opts.catalogue ?? CATALOGUE) declared.set(spec.name, spec);
  const families = new Map<string, Family>();
  const maxSeries = opts.maxSeriesPerMetric ?? 500;

  const family = (name: string, type: MetricType): Family => {
    const existing = families.get(name);
    if (existing) {
      if (existing.spec.type !== type) {
        throw new MetricError(name, `is a ${existing.spec.type}, not a ${type}`);
      }
      return existing;
    }
    const spec = declared.get(name) ?? { name, type, help: name.replace(/_/g, " ") };
    if (spec.type !== type) throw new MetricError(name, `is a ${spec.type}, not a ${type}`);
    validateSpec(spec);
    const bounds = type === "histogram" ? spec.bounds ?? DEFAULT_BUCKETS_MS : [];
    const f: Family = { spec: type === "histogram" ? { ...spec, bounds } : spec, bounds, series: new Map() };
    families.set(name, f);
    return f;
  };

  const series = (f: Family, labels: Labels): Series | undefined => {
    const key = labelsKey(labels);
    const found = f.series.get(key);
    if (found) return found;
    const names = f.spec.labels;
    if (names && !sameLabelNames(names, labels)) {
      throw new MetricError(
        f.spec.name,
        `takes labels [${names.join(", ")}], got [${Object.keys(labels).join(", ")}]`,
      );
    }
    for (const l of Object.keys(labels)) checkLabelName(f.spec, l);
    if (f.series.size >= maxSeries) {
      if (f.spec.name !== METRICS.seriesDropped.name) {
        series(family(METRICS.seriesDropped.name, "counter"), { metric: f.spec.name })!.value += 1;
      }
      return undefined;
    }
    const s: Series = {
      labels: { ...labels },
      value: 0,
      sum: 0,
      buckets: f.spec.type === "histogram" ? new Array<number>(f.bounds.length + 1).fill(0) : undefined,
    };
    f.series.set(key, s);
    return s;
  };

  const snapshot = (): SeriesSnapshot[] =>
    [...families.values()].flatMap((f) =>
      [...f.series.entries()].map(([key, s]): SeriesSnapshot => ({
        name: f.spec.name,
        type: f.spec.type,
        key,
        labels: s.labels,
        value: s.value,
        ...(s.buckets ? { sum: s.sum, buckets: [...s.buckets] } : {}),
      }))
    );

  return {
    describe(spec) {
      validateSpec(spec);
      const f = families.get(spec.name);
      const bounds = spec.type === "histogram" ? spec.bounds ?? DEFAULT_BUCKETS_MS : [];
      if (f && f.spec.type !== spec.type) throw new MetricError(spec.name, `is already a ${f.spec.type}`);
      if (f && f.series.size > 0 && bounds.join() !== f.bounds.join()) {
        throw new MetricError(spec.name, "cannot change the buckets of a histogram in use");
      }
      declared.set(spec.name, spec);
      if (f) {
        f.spec = spec.type === "histogram" ? { ...spec, bounds } : spec;
        f.bounds = bounds;
      }
    },
    spec: (name) => families.get(name)?.spec ?? declared.get(name),
    inc(name, labels = {}, by = 1) {
      if (!(by >= 0) || !Number.isFinite(by)) {
        throw new MetricError(name, `a counter only goes up (got ${by})`);
      }
      const s = series(family(name, "counter"), labels);
      if (s) s.value += by;
    },
    set(name, value, labels = {}) {
      const s = series(family(name, "gauge"), labels);
      if (s) s.value = value;
    },
    observe(name, value, labels = {}) {
      if (!Number.isFinite(value)) throw new MetricError(name, `cannot observe ${value}`);
      const f = family(name, "histogram");
      const s = series(f, labels);
      if (!s) return;
      let i = f.bounds.findIndex((b) => value <= b);
      if (i === -1) i = f.bounds.length;
      s.buckets![i]! += 1;
      s.sum += value;
      s.value += 1;
    },
    render() {
      const bounds = new Map([...families.values()].map((f) => [f.spec.name, f.bounds]));
      return toPrometheusText([...families.values()].map((f) => f.spec), snapshot(), bounds);
    },
    snapshot,
  };
}
