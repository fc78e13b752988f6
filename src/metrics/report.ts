/**
 * `aideazz stats`: reads a window of stored metrics and prints it for a terminal (an SSH session): agents,
 * headline numbers, and one line per series with its total or last value, rate, percentiles and a sparkline.
 *
 * @module
 */
import type { Client } from "../store/mod.ts";
import { formatDuration } from "./duration.ts";
import {
  formatByName,
  formatBytes,
  formatCount,
  formatMs,
  formatPercent,
  formatPercentDown,
  formatUsd,
  sparkline,
} from "./format.ts";
import { computeKpis, type Kpis } from "./kpis.ts";
import { CATALOGUE, M } from "./names.ts";
import { readSeries } from "./query.ts";
import { type SeriesSummary, slotGrid, summarizeSeries, type Window } from "./summary.ts";
import { resolutionFor, type Retention, windowStart } from "./tiers.ts";

export interface StatsAgent {
  name: string;
  pid: number;
  version: string;
  startedAt: number;
  seenAt: number;
  /** When it stopped cleanly; undefined while it runs (or after a crash: then it goes stale). */
  stoppedAt: number | undefined;
  rssBytes: number | undefined;
  starts: number;
  memoryTrend: (number | null)[];
}

/** What an agent's heartbeat row says at `now`: stale when not seen for 60 s without having stopped cleanly. */
export function agentStatus(
  a: { seenAt: number | undefined; stoppedAt: number | undefined },
  now: number,
): "up" | "stale" | "stopped" | "never seen" {
  if (a.seenAt === undefined) return "never seen";
  if (a.stoppedAt !== undefined) return "stopped";
  return now - a.seenAt > 60_000 ? "stale" : "up";
}

/** A restart the health job made (the `restarts` table of src/ops). */
export interface StatsRestart {
  target: string;
  at: number;
  kind: string;
  reason: string;
  action: string;
  ok: boolean;
}

export interface StatsReport {
  /** `slotMs`: the span of one trend slot (the last one still filling, up to `to`). */
  window: Window & { sinceMs: number; slotMs: number };
  agents: StatsAgent[];
  kpis: Kpis;
  series: SeriesSummary[];
  restarts: StatsRestart[];
}

export interface StatsOptions {
  now: number;
  sinceMs: number;
  retention: Retention;
  agent?: string;
  /** Sparkline width in characters. */
  slots?: number;
}

const ORDER = new Map(CATALOGUE.map((s, i) => [s.name, i]));

/** Reads the window ending at `now` and summarizes it. */
export async function buildStatsReport(client: Client, o: StatsOptions): Promise<StatsReport> {
  const res = resolutionFor(o.sinceMs, o.retention);
  const from = windowStart(o.now, o.sinceMs, res);
  const w: Window = { from, to: o.now + 1, res };
  const grid = slotGrid(w, o.slots ?? 24);
  const series = await readSeries(client, {
    from,
    to: w.to,
    res,
    slotMs: grid.slotMs,
    ...(o.agent === undefined ? {} : { agent: o.agent }),
  });
  const summaries = series.map((s) => summarizeSeries(s, w, grid)).sort((a, b) =>
    (ORDER.get(a.name) ?? 1e9) - (ORDER.get(b.name) ?? 1e9) || a.name.localeCompare(b.name) ||
    a.agent.localeCompare(b.agent) || JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels))
  );
  const kpis = computeKpis(series);
  const hb = await client.execute(
    "SELECT agent, pid, version, started_at, seen_at, stopped_at FROM agent_heartbeats ORDER BY agent",
  );
  const agents = hb.rows.map((r): StatsAgent => {
    const name = String(r["agent"]);
    const rss = summaries.find((s) => s.name === M.rss && s.agent === name);
    return {
      name,
      pid: Number(r["pid"]),
      version: String(r["version"]),
      startedAt: Number(r["started_at"]),
      seenAt: Number(r["seen_at"]),
      stoppedAt: r["stopped_at"] === null ? undefined : Number(r["stopped_at"]),
      rssBytes: rss?.value,
      starts: kpis.starts?.[name] ?? 0,
      memoryTrend: rss?.trend ?? [],
    };
  }).filter((a) => o.agent === undefined || a.name === o.agent);
  const rs = await client.execute({
    sql: "SELECT target, at, kind, reason, action, ok FROM restarts WHERE at >= ? ORDER BY at DESC LIMIT 20",
    args: [o.now - o.sinceMs],
  });
  const restarts = rs.rows.map((r): StatsRestart => ({
    target: String(r["target"]),
    at: Number(r["at"]),
    kind: String(r["kind"]),
    reason: String(r["reason"]),
    action: String(r["action"]),
    ok: Number(r["ok"]) === 1,
  }));
  return { window: { ...w, sinceMs: o.sinceMs, slotMs: grid.slotMs }, agents, kpis, series: summaries, restarts };
}

function table(header: readonly string[], rows: readonly string[][], right: ReadonlySet<number>): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (right.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `  ${l}`);
}

function summaryLines(k: Kpis, windowMs: number): string[] {
  const parts: string[][] = [[], [], [], []];
  if (k.messagesIn !== undefined) {
    parts[0]!.push(`messages in ${formatCount(k.messagesIn)} · out ${formatCount(k.messagesOut ?? 0)}`);
  }
  if (k.answerRate !== undefined) parts[0]!.push(`answered ${formatPercentDown(k.answerRate)}`);
  if (k.replyLatency) {
    const l = k.replyLatency;
    parts[0]!.push(`reply p50 ${formatMs(l.p50)} · p90 ${formatMs(l.p90)} · p99 ${formatMs(l.p99)}`);
  }
  if (k.ackLatency) parts[0]!.push(`ack p99 ${formatMs(k.ackLatency.p99)}`);
  if (k.cacheHitRate !== undefined) parts[1]!.push(`cache hit rate ${formatPercent(k.cacheHitRate)}`);
  if (k.cacheFalseHitRate !== undefined) parts[1]!.push(`false hits ${formatPercent(k.cacheFalseHitRate)} of checked`);
  if (k.costUsd !== undefined) parts[1]!.push(`spend ${formatUsd(k.costUsd)}`);
  for (const [p, v] of Object.entries(k.budgetLeftUsd ?? {})) {
    parts[1]!.push(`budget left (${p}) ${formatUsd(v)}`);
  }
  const mix = Object.entries(k.providerMix ?? {});
  const turns = mix.reduce((a, [, n]) => a + n, 0);
  if (turns > 0) {
    parts[2]!.push(
      `providers ${
        mix.sort((a, b) => b[1] - a[1]).map(([p, n]) => `${p} ${formatPercent(n / turns)}`).join(", ")
      }`,
    );
  }
  if (k.sendErrors !== undefined) parts[2]!.push(`send errors ${formatCount(k.sendErrors)}`);
  if (k.deadLetters !== undefined) parts[2]!.push(`dead letters ${formatCount(k.deadLetters)}`);
  if (k.httpRequests !== undefined) {
    parts[2]!.push(`HTTP ${formatCount(k.httpRequests)} (5xx ${formatCount(k.http5xx ?? 0)})`);
  }
  const starts = Object.values(k.starts ?? {}).reduce((a, b) => a + b, 0);
  if (k.starts) parts[2]!.push(`agent starts ${starts}`);
  if (k.lockHeldMs !== undefined) {
    const wait = k.lockWait ? ` · wait p99 ${formatMs(k.lockWait.p99)}` : "";
    parts[3]!.push(`write lock held ${formatPercent(k.lockHeldMs / windowMs)} of the time${wait}`);
  }
  return parts.filter((p) => p.length > 0).map((p) => `  ${p.join(" · ")}`);
}

function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(" ");
}

/** The report as terminal text. */
export function formatStatsReport(r: StatsReport, dbText: string): string {
  const w = r.window;
  const span = `${new Date(w.from).toISOString().slice(0, 16).replace("T", " ")}–${
    new Date(w.to).toISOString().slice(11, 16)
  } UTC`;
  const out = [
    `aideazz stats · ${dbText} · last ${formatDuration(w.sinceMs)} · ${
      formatDuration(w.res)
    } resolution · ${span}`,
    "",
    "AGENTS",
  ];
  if (r.agents.length === 0) out.push("  no agent has started on this database yet");
  else {
    const now = w.to - 1;
    out.push(...table(
      ["agent", "status", "pid", "version", "up", "last seen", "memory", "starts", "memory trend"],
      r.agents.map((a) => [
        a.name,
        agentStatus(a, now),
        String(a.pid),
        a.version,
        a.stoppedAt === undefined ? formatDuration(now - a.startedAt) : "—",
        `${formatDuration(now - a.seenAt)} ago`,
        a.rssBytes === undefined ? "—" : formatBytes(a.rssBytes),
        String(a.starts),
        sparkline(a.memoryTrend, { fromZero: false }),
      ]),
      new Set([2, 4, 5, 6, 7]),
    ));
  }
  const summary = summaryLines(r.kpis, r.window.to - r.window.from);
  if (summary.length > 0) out.push("", "SUMMARY", ...summary);
  if (r.restarts.length > 0) {
    out.push("", "RESTARTS BY THE HEALTH JOB");
    out.push(...table(
      ["when", "agent", "kind", "action", "result", "reason"],
      r.restarts.map((x) => [
        new Date(x.at).toISOString().slice(5, 19).replace("T", " "),
        x.target,
        x.kind,
        x.action,
        x.ok ? "ok" : "failed",
        x.reason,
      ]),
      new Set(),
    ));
  }
  out.push(
    "",
    "SIGNALS  (counters: increase in the window and per minute; gauges: last, min–max; histograms: count, p50/p90/p99)",
  );
  if (r.series.length === 0) out.push("  no metrics in this window");
  else {
    out.push(...table(
      ["signal", "agent", "labels", "value", "/min", "p50", "p90", "p99", "trend"],
      r.series.map((s) => {
        const f = (v: number | undefined) => (v === undefined ? "" : formatByName(s.name, v));
        const value = s.type === "histogram" ? formatCount(s.value) : f(s.value);
        const rate = s.type === "counter"
          ? formatCount(s.perMinute ?? 0)
          : s.type === "gauge"
          ? `${f(s.min)}–${f(s.max)}`
          : "";
        // Counters: rates over complete buckets, so the slot still filling is drawn as full as the others.
        const trend = s.type === "counter"
          ? sparkline(s.rates ?? [])
          : sparkline(s.trend, { fromZero: s.type !== "gauge" });
        return [
          s.name.replace(/^aideazz_/, ""),
          s.agent,
          labelText(s.labels),
          value,
          rate,
          f(s.p50),
          f(s.p90),
          f(s.p99),
          trend,
        ];
      }),
      new Set([3, 4, 5, 6, 7]),
    ));
  }
  return out.join("\n") + "\n";
}
