/**
 * Number formatting shared by `aideazz stats` and the dashboard, and unicode sparklines (`▁▂▃▄▅▆▇█`) that
 * read well in an SSH session.
 *
 * @module
 */

const BARS = "▁▂▃▄▅▆▇█";

/**
 * A sparkline of values; null (no data) is a space. The scale starts at 0 (unless `fromZero: false`).
 *
 * @example
 * ```ts
 * sparkline([0, 1, 2, 4, null, 8]); // "▁▂▃▅ █"
 * ```
 */
export function sparkline(values: readonly (number | null)[], opts: { fromZero?: boolean } = {}): string {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length === 0) return " ".repeat(values.length);
  // Counts start at zero; levels (memory, headroom) use their own range so a small change is visible.
  const lo = opts.fromZero === false ? Math.min(...present) : Math.min(0, ...present);
  const hi = Math.max(...present);
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return " ";
    if (hi === lo) return BARS[0];
    return BARS[Math.min(BARS.length - 1, Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1)))];
  }).join("");
}

/** 950, 1.2k, 34k, 1.5M. */
export function formatCount(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1_000) {
    if (Number.isInteger(n)) return String(n);
    return abs < 0.01 ? String(+n.toPrecision(2)) : n.toFixed(abs < 10 ? 2 : 1);
  }
  if (abs < 1_000_000) return `${+(n / 1_000).toFixed(abs < 10_000 ? 1 : 0)}k`;
  return `${+(n / 1_000_000).toFixed(1)}M`;
}

/** A latency: 4 ms, 820 ms, 1.9 s, 42 s. */
export function formatMs(ms: number): string {
  if (ms < 10) return `${+ms.toFixed(1)} ms`;
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  return `${+(ms / 1_000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/** 61 MB, 980 kB, 1.2 GB (decimal units, as systemd shows MemoryMax). */
export function formatBytes(n: number): string {
  if (n < 1_000) return `${n} B`;
  if (n < 1_000_000) return `${Math.round(n / 1_000)} kB`;
  if (n < 1_000_000_000) return `${Math.round(n / 1_000_000)} MB`;
  return `${+(n / 1_000_000_000).toFixed(2)} GB`;
}

export function formatUsd(n: number): string {
  return `$${n < 10 ? n.toFixed(2) : n.toFixed(0)}`;
}

export function formatPercent(ratio: number): string {
  const p = ratio * 100;
  // Neither end is rounded to: 4 false hits in 10,000 are not "0.0%", a hit rate of 99.6% is not "100%".
  if (p > 0 && p < 0.05) return "<0.1%";
  if (p > 99 && p < 100) return `${Math.min(99.9, Math.floor(p * 10) / 10)}%`;
  return `${p < 10 && p !== 0 ? p.toFixed(1) : Math.round(p)}%`;
}

/** A share that must not look whole unless it is (answered 99.9%, not 100%, when one message failed). */
export function formatPercentDown(ratio: number): string {
  // The epsilon keeps an exact share (0.93 is 929.999… thousandths in floating point) from flooring a step low.
  return ratio >= 1 ? "100%" : `${Math.floor(ratio * 1000 + 1e-9) / 10}%`;
}

/** A value in the unit its metric name says. */
export function formatByName(name: string, v: number): string {
  if (name.endsWith("_ms")) return formatMs(v);
  if (name.endsWith("_bytes")) return formatBytes(v);
  if (name.endsWith("_usd") || name.endsWith("_usd_total")) return formatUsd(v);
  if (name.endsWith("_ratio")) return formatPercent(v);
  if (name.endsWith("_seconds")) return formatSeconds(v);
  return formatCount(v);
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h ${Math.floor((s % 3_600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3_600)}h`;
}
