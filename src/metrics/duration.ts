/**
 * Human durations for options and config (`--since 1h`, `90s`, `7d`), and their display.
 *
 * @module
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Milliseconds of "500ms", "10s", "5m", "1h", "7d", "2w" (also "1h30m"); undefined when it does not parse. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total > 0 ? total : undefined;
}

/** "1h", "10 s", "2d 3h": the two largest units of a duration (59.7 s is "1m", not "60 s"). */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 999.5) return `${Math.round(ms)} ms`;
  if (abs < 59_500) return `${+(ms / 1_000).toFixed(abs < 10_000 ? 1 : 0)} s`;
  const parts: string[] = [];
  let rest = Math.round(abs / 1_000);
  for (const [unit, s] of [["d", 86_400], ["h", 3_600], ["m", 60], ["s", 1]] as const) {
    // The largest unit, then the next one even when it is 0 ("3h 0m", not "3h 1s"); nothing when exact ("1h").
    if (parts.length === 1 && rest === 0) break;
    if (rest >= s || parts.length === 1) {
      parts.push(`${Math.floor(rest / s)}${unit}`);
      rest %= s;
    }
    if (parts.length === 2) break;
  }
  return (ms < 0 ? "-" : "") + parts.join(" ");
}
