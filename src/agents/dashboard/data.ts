/**
 * Everything the dashboard shows, read from the store in a few queries: the window's series (one resolution,
 * summed per chart slot in SQL), spend per UTC day from the hourly rollups, agent heartbeats and recent traces.
 *
 * @module
 */
import type { Config } from "../../config.ts";
import {
  bucketStart,
  checkedFalseHits,
  computeKpis,
  counterSlots,
  deadLettersNow,
  gaugeSlots,
  HOUR,
  KPI_METRICS,
  type Kpis,
  lastValue,
  M,
  quantileSlots,
  rateSlots,
  readSeries,
  resolutionFor,
  slotGrid,
  type Retention,
  type StoredSeries,
  total,
  type Window,
  windowStart,
} from "../../metrics/mod.ts";
import type { Client } from "../../store/mod.ts";
import { recentTraces, type TraceSummary } from "../../trace/mod.ts";

export interface AgentRow {
  name: string;
  kind: string;
  pid: number | undefined;
  version: string | undefined;
  startedAt: number | undefined;
  seenAt: number | undefined;
  stoppedAt: number | undefined;
  rssBytes: number | undefined;
  starts: number;
}

export interface DashboardData {
  now: number;
  window: Window;
  slots: number;
  kpis: Kpis;
  /** Per minute, per slot, over complete buckets (null: the slot has none yet). */
  throughput: { in: (number | null)[]; out: (number | null)[]; http: (number | null)[] };
  replyLatency: { p50: (number | null)[]; p90: (number | null)[]; p99: (number | null)[] };
  cache: { hitRate: (number | null)[]; falseHitRate: (number | null)[] };
  costPerDay: { day: string; usd: number }[];
  dailyBudgetUsd: number | undefined;
  quota: { label: string; ratio: number }[];
  errors: { label: string; count: number }[];
  memory: { agent: string; values: (number | null)[] }[];
  agents: AgentRow[];
  traces: TraceSummary[];
}

const named = (series: readonly StoredSeries[], name: string) => series.filter((s) => s.name === name);

function ratioSlots(num: number[], den: number[]): (number | null)[] {
  return num.map((n, i) => (den[i]! > 0 ? n / den[i]! : null));
}

async function heartbeats(
  client: Client,
): Promise<Map<string, { pid: number; version: string; startedAt: number; seenAt: number; stoppedAt?: number }>> {
  const rs = await client.execute("SELECT agent, pid, version, started_at, seen_at, stopped_at FROM agent_heartbeats");
  return new Map(rs.rows.map((r) => [String(r["agent"]), {
    pid: Number(r["pid"]),
    version: String(r["version"]),
    startedAt: Number(r["started_at"]),
    seenAt: Number(r["seen_at"]),
    ...(r["stopped_at"] === null ? {} : { stoppedAt: Number(r["stopped_at"]) }),
  }]));
}

/** Spend per UTC day over the last `days` days (today included), from the hourly rollups. */
async function costPerDay(
  client: Client,
  now: number,
  days: number,
): Promise<{ day: string; usd: number }[]> {
  const today = bucketStart(now, 86_400_000);
  const from = today - (days - 1) * 86_400_000;
  const series = await readSeries(client, {
    from,
    to: now + 1,
    res: HOUR,
    slotMs: 86_400_000,
    names: [M.cost],
  });
  const out = Array.from(
    { length: days },
    (_, i) => ({ day: new Date(from + i * 86_400_000).toISOString().slice(5, 10), usd: 0 }),
  );
  for (const s of series) {
    for (const p of s.points) {
      const i = Math.floor((p.start - from) / 86_400_000);
      if (out[i]) out[i].usd += p.value;
    }
  }
  return out;
}

export interface LoadOptions {
  now: number;
  windowMs: number;
  retention: Retention;
  config: Config;
  slots?: number;
}

/** The metrics the page shows (KPIs and cards): a deployment stores many more (bus depths, durations…). */
const PAGE_METRICS = [
  ...KPI_METRICS,
  M.rss,
  M.quotaHeadroom,
  M.busHandled,
  M.flushErrors,
  M.providerRequests,
];

/** Reads the dashboard's data for the window ending now. */
export async function loadDashboard(client: Client, opts: LoadOptions): Promise<DashboardData> {
  const res = resolutionFor(opts.windowMs, opts.retention);
  const to = opts.now + 1;
  const from = windowStart(opts.now, opts.windowMs, res);
  const grid = slotGrid({ from, to, res }, opts.slots ?? 120);
  const { window: w, slots } = grid;
  const series = await readSeries(client, { from, to, res, slotMs: grid.slotMs, names: PAGE_METRICS });
  const rate = (name: string) => rateSlots(named(series, name), grid, opts.now);

  const lookups = named(series, M.cacheLookups);
  const hits = counterSlots(lookups.filter((s) => s.labels["result"] === "hit"), w, slots);
  const latency = named(series, M.replyLatency);
  const hb = await heartbeats(client);
  const kpis = computeKpis(series);
  const rss = named(series, M.rss).sort((a, b) => a.agent.localeCompare(b.agent));
  const agents = new Set([...opts.config.agents.map((a) => a.name), ...hb.keys()]);

  return {
    now: opts.now,
    window: w,
    slots,
    kpis,
    throughput: { in: rate(M.messagesIn), out: rate(M.messagesOut), http: rate(M.httpRequests) },
    replyLatency: {
      p50: quantileSlots(latency, w, slots, 0.5),
      p90: quantileSlots(latency, w, slots, 0.9),
      p99: quantileSlots(latency, w, slots, 0.99),
    },
    cache: {
      hitRate: ratioSlots(hits, counterSlots(lookups, w, slots)),
      // Among the checked hits (a sampled share of them).
      falseHitRate: ratioSlots(
        counterSlots(checkedFalseHits(series), w, slots),
        counterSlots(named(series, M.cacheChecks), w, slots),
      ),
    },
    costPerDay: await costPerDay(client, opts.now, 14),
    dailyBudgetUsd: opts.config.router.budget?.dailyUsd,
    quota: named(series, M.quotaHeadroom).map((s) => ({
      label: `${s.labels["provider"]}/${s.labels["model"]} ${s.labels["window"]}`,
      ratio: lastValue(s) ?? 0,
    })).sort((a, b) => a.ratio - b.ratio),
    errors: errorRows(series),
    memory: rss.map((s) => ({ agent: s.agent, values: gaugeSlots(s, w, slots) })),
    agents: [...agents].sort().map((name) => {
      const h = hb.get(name);
      return {
        name,
        kind: opts.config.agents.find((a) => a.name === name)?.kind ?? "?",
        pid: h?.pid,
        version: h?.version,
        startedAt: h?.startedAt,
        seenAt: h?.seenAt,
        stoppedAt: h?.stoppedAt,
        rssBytes: rss.find((s) => s.agent === name)?.points.at(-1)?.value,
        starts: kpis.starts?.[name] ?? 0,
      };
    }),
    traces: await recentTraces(client, 15),
  };
}

/** The Errors card: one row per label, summed over the agents (two Telegram bots blocked by users: one row). */
export function errorRows(series: readonly StoredSeries[]): { label: string; count: number }[] {
  const rows = new Map<string, number>();
  const add = (label: string, count: number) => rows.set(label, (rows.get(label) ?? 0) + count);
  for (const s of named(series, M.sendErrors)) {
    add(`send ${s.labels["platform"]} ${s.labels["code"]}`, total([s]));
  }
  const http5xx = named(series, M.httpRequests).filter((s) => (s.labels["status"] ?? "").startsWith("5"));
  if (http5xx.length > 0) add("HTTP 5xx", total(http5xx));
  for (const s of named(series, M.busHandled).filter((s) => s.labels["outcome"] === "dead")) {
    add(`dead-lettered (${s.labels["topic"]})`, total([s]));
  }
  const dead = deadLettersNow(named(series, M.busDeadLetters));
  if (dead !== undefined) add("dead letters (now)", dead);
  const flush = named(series, M.flushErrors);
  if (flush.length > 0) add("metrics flush errors", total(flush));
  for (const s of named(series, M.providerRequests).filter((s) => s.labels["outcome"] !== "ok")) {
    const outcome = s.labels["outcome"] ?? "";
    const what = outcome.startsWith("skipped_") ? `not called: ${outcome.slice("skipped_".length)}` : outcome;
    add(`${s.labels["provider"]} ${what}`, total([s]));
  }
  return [...rows].map(([label, count]) => ({ label, count })).filter((r) => r.count > 0)
    .sort((a, b) => b.count - a.count);
}
