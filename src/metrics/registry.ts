/**
 * In-memory metrics of one agent: counters, gauges and latency histograms with labels, rendered in the
 * Prometheus text exposition format for `GET /metrics`.
 *
 * @module
 */

export type Labels = Readonly<Record<string, string>>;

/** Latency buckets in milliseconds: fine below 50 ms (bus hops, cache hits), coarse up to model latencies. */
export const DEFAULT_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000];

interface Series {
  labels: Labels;
  value: number;
  /** Histogram only: cumulative counts are computed at render time from these per-bucket counts. */
  buckets?: number[];
  sum?: number;
}

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  bounds: readonly number[];
  series: Map<string, Series>;
}

export interface Metrics {
  inc(name: string, labels?: Labels, by?: number): void;
  set(name: string, value: number, labels?: Labels): void;
  observe(name: string, valueMs: number, labels?: Labels): void;
  /** Declares a metric's help text and type (undeclared names are created on first use). */
  describe(name: string, type: Family["type"], help: string, bounds?: readonly number[]): void;
  /** Prometheus text exposition format (version 0.0.4). */
  render(): string;
  /** A snapshot of every series, for flushing to the store. */
  snapshot(): { name: string; type: Family["type"]; labels: Labels; value: number; sum?: number; buckets?: number[] }[];
}

function keyOf(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(",");
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatLabels(labels: Labels, extra?: [string, string]): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${escapeLabel(labels[k] ?? "")}"`);
  if (extra) parts.push(`${extra[0]}="${extra[1]}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

export function createMetrics(): Metrics {
  const families = new Map<string, Family>();

  const family = (name: string, type: Family["type"], bounds: readonly number[] = DEFAULT_BUCKETS_MS): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, help: name.replace(/_/g, " "), type, bounds, series: new Map() };
      families.set(name, f);
    }
    return f;
  };
  const series = (f: Family, labels: Labels): Series => {
    const key = keyOf(labels);
    let s = f.series.get(key);
    if (!s) {
      s = { labels: { ...labels }, value: 0 };
      if (f.type === "histogram") {
        s.buckets = new Array<number>(f.bounds.length + 1).fill(0);
        s.sum = 0;
      }
      f.series.set(key, s);
    }
    return s;
  };

  return {
    describe(name, type, help, bounds) {
      const f = family(name, type, bounds);
      f.help = help;
    },
    inc(name, labels = {}, by = 1) {
      series(family(name, "counter"), labels).value += by;
    },
    set(name, value, labels = {}) {
      series(family(name, "gauge"), labels).value = value;
    },
    observe(name, valueMs, labels = {}) {
      const f = family(name, "histogram");
      const s = series(f, labels);
      let i = f.bounds.findIndex((b) => valueMs <= b);
      if (i === -1) i = f.bounds.length;
      s.buckets![i]! += 1;
      s.sum! += valueMs;
      s.value += 1;
    },
    render() {
      const lines: string[] = [];
      for (const f of families.values()) {
        lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
        lines.push(`# TYPE ${f.name} ${f.type}`);
        for (const s of f.series.values()) {
          if (f.type !== "histogram") {
            lines.push(`${f.name}${formatLabels(s.labels)} ${formatNumber(s.value)}`);
            continue;
          }
          let cumulative = 0;
          f.bounds.forEach((b, i) => {
            cumulative += s.buckets![i]!;
            lines.push(`${f.name}_bucket${formatLabels(s.labels, ["le", formatNumber(b)])} ${cumulative}`);
          });
          lines.push(`${f.name}_bucket${formatLabels(s.labels, ["le", "+Inf"])} ${s.value}`);
          lines.push(`${f.name}_sum${formatLabels(s.labels)} ${formatNumber(s.sum!)}`);
          lines.push(`${f.name}_count${formatLabels(s.labels)} ${s.value}`);
        }
      }
      return lines.join("\n") + "\n";
    },
    snapshot() {
      return [...families.values()].flatMap((f) =>
        [...f.series.values()].map((s) => ({
          name: f.name,
          type: f.type,
          labels: s.labels,
          value: s.value,
          ...(s.sum === undefined ? {} : { sum: s.sum }),
          ...(s.buckets === undefined ? {} : { buckets: [...s.buckets] }),
        }))
      );
    },
  };
}
