/**
 * The Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` once per metric, then its samples;
 * histograms as cumulative `_bucket{le=…}` lines ending with `le="+Inf"`, then `_sum` and `_count`.
 *
 * @module
 */
import type { Labels, MetricSpec, SeriesSnapshot } from "./types.ts";

/** The Content-Type of `/metrics`. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatLabels(labels: Labels, le?: string): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${escapeLabelValue(labels[k] ?? "")}"`);
  if (le !== undefined) parts.push(`le="${le}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** A sample value as the format spells it (`+Inf`, `-Inf`, `NaN`, or a Go-parsable float). */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

/** Renders families (in the given order) and their series; `bounds` gives each histogram's finite bucket bounds. */
export function toPrometheusText(
  specs: readonly MetricSpec[],
  series: readonly SeriesSnapshot[],
  bounds: ReadonlyMap<string, readonly number[]>,
): string {
  const byName = new Map<string, SeriesSnapshot[]>();
  for (const s of series) {
    const list = byName.get(s.name);
    if (list) list.push(s);
    else byName.set(s.name, [s]);
  }
  const lines: string[] = [];
  for (const spec of specs) {
    const rows = byName.get(spec.name) ?? [];
    if (rows.length === 0) continue;
    lines.push(`# HELP ${spec.name} ${escapeHelp(spec.help)}`, `# TYPE ${spec.name} ${spec.type}`);
    for (const s of rows) {
      if (spec.type !== "histogram") {
        lines.push(`${spec.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
        continue;
      }
      const bs = bounds.get(spec.name) ?? [];
      let cumulative = 0;
      bs.forEach((b, i) => {
        cumulative += s.buckets?.[i] ?? 0;
        lines.push(`${spec.name}_bucket${formatLabels(s.labels, formatValue(b))} ${cumulative}`);
      });
      lines.push(`${spec.name}_bucket${formatLabels(s.labels, "+Inf")} ${s.value}`);
      lines.push(`${spec.name}_sum${formatLabels(s.labels)} ${formatValue(s.sum ?? 0)}`);
      lines.push(`${spec.name}_count${formatLabels(s.labels)} ${s.value}`);
    }
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}
