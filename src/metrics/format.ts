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

/** 950, 1.2k, 34k, 1.5M. The unit is chosen after rounding: 999.96 is "1k", not "1000.0". */
export function formatCount(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1_000) {
    if (Number.isInteger(n)) return String(n);
    if (abs < 0.01) return String(+n.toPrecision(2));
    const rounded = n.toFixed(abs < 10 ? 2 : 1);
    if (Math.abs(+rounded) < 1_000) return rounded;
  }
  const k = +(n / 1_000).toFixed(abs < 10_000 ? 1 : 0);
  if (Math.abs(k) < 1_000) return `${k}k`;
  return `${+(n / 1_000_000).toFixed(1)}M`;
}

/** A latency: 4 ms, 820 ms, 1.9 s, 42 s (999.7 ms is "1 s", not "1000 ms"). */
export function formatMs(ms: number): string {
  if (ms < 10) return `${+ms.toFixed(1)} ms`;
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  return `${+(ms / 1_000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

const BYTE_UNITS = ["KiB", "MiB", "GiB", "TiB"];

/**
 * A byte count in base 1024, as systemd reads MemoryMax=256M and `aideazz health` shows it: an agent at exactly
 * its limit reads "256.0 MiB", not "268 MB". The unit is chosen after rounding: 1,048,535 B (1023.96 KiB) is
 * "1.0 MiB", not "1024.0 KiB".
 *
 * @example
 * ```ts
 * formatBytes(256 * 1024 ** 2); // "256.0 MiB"
 * ```
 */
export function formatBytes(n: number): string {
  if (Math.round(n) < 1024) return `${Math.round(n)} B`;
  let value = n / 1024;
  let unit = 0;
  while (+value.toFixed(1) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
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

/** 42 s, 1m 59s, 3h 5m, 2d 4h: whole seconds first, so 119.6 s is "2m 0s", never "1m 60s". */
function formatSeconds(s: number): string {
  const t = Math.round(s);
  if (t < 60) return `${t} s`;
  if (t < 3_600) return `${Math.floor(t / 60)}m ${t % 60}s`;
  if (t < 86_400) return `${Math.floor(t / 3_600)}h ${Math.floor((t % 3_600) / 60)}m`;
  return `${Math.floor(t / 86_400)}d ${Math.floor((t % 86_400) / 3_600)}h`;
}
