/**
 * systemd-style sizes ("256M") and durations (byte counts are shown by `formatBytes` in src/metrics/format.ts).
 *
 * @module
 */
const UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/**
 * Bytes of a systemd-style size (K, M, G are powers of 1024, as in systemd's MemoryMax=).
 *
 * @example
 * ```ts
 * toBytes("256M"); // 268435456
 * ```
 */
export function toBytes(size: string): number {
  const match = /^(\d+)([KMG])$/.exec(size);
  if (!match) throw new RangeError(`not a size: "${size}" (use digits and K, M or G, e.g. "256M")`);
  return Number(match[1]) * UNITS[match[2]!]!;
}

/** MemoryHigh when the config gives none: 80% of MemoryMax, where the kernel starts reclaiming hard. */
export function defaultMemoryHigh(memoryMax: string): string {
  return `${Math.floor((toBytes(memoryMax) * 0.8) / 1024)}K`;
}

/** A duration for people: "45 s", "12 min", "6 h". */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
