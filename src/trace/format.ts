/**
 * Prints a trace as a terminal timeline: one line per stage with its time relative to the first event, the gap
 * since the previous one, the agent, how long a timed stage took, and its details.
 *
 * @module
 */
import { formatDuration } from "../metrics/duration.ts";
import type { JsonValue, TraceEvent } from "./types.ts";
import { summarizeTrace } from "./query.ts";

/** "+0 ms", "+1,840 ms", "+12.4 s", "+12m 30s": a time relative to the trace's start. */
export function formatOffset(ms: number): string {
  const sign = ms < 0 ? "-" : "+";
  const abs = Math.abs(ms);
  if (abs < 10_000) return `${sign}${Math.round(abs).toLocaleString("en-US")} ms`;
  if (abs < 600_000) return `${sign}${(abs / 1_000).toFixed(1)} s`;
  return `${sign}${formatDuration(abs)}`;
}

function formatDetailValue(v: JsonValue): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** `key=value` pairs of an event's detail. */
export function formatDetail(detail: { readonly [key: string]: JsonValue }): string {
  return Object.entries(detail).map(([k, v]) => `${k}=${formatDetailValue(v)}`).join(" ");
}

function utc(at: number): string {
  return new Date(at).toISOString().replace("T", " ").replace("Z", " UTC");
}

/** The timeline of one trace (events in timeline order). */
export function formatTimeline(events: readonly TraceEvent[]): string {
  const s = summarizeTrace(events);
  if (!s) return "";
  const head = [
    s.chat ? `chat ${s.chat}` : undefined,
    `started ${utc(s.startedAt)}`,
    `${formatDuration(s.endedAt - s.startedAt)} across ${s.agents.length} agent${
      s.agents.length === 1 ? "" : "s"
    }`,
    `last stage: ${s.lastStage}`,
  ].filter((x) => x !== undefined).join(" · ");
  const rows = events.map((e, i) => [
    formatOffset(e.at - s.startedAt),
    i === 0 ? "" : formatOffset(e.at - events[i - 1]!.at),
    e.agent,
    e.stage,
    e.durationMs === undefined ? "" : formatDuration(e.durationMs),
    formatDetail(e.detail),
  ]);
  const header = ["at", "Δ prev", "agent", "stage", "took", "detail"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) =>
    cells.map((
      cell,
      c,
    ) => (c < 2 ? cell.padStart(widths[c]!) : c === cells.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join("  ").trimEnd();
  return [`trace ${s.traceId}`, `  ${head}`, "", `  ${line(header)}`, ...rows.map((r) => `  ${line(r)}`), ""]
    .join("\n");
}
