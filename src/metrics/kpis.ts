/**
 * The headline numbers of a window, derived from the catalogued metrics: traffic, reply latency, cache hit and
 * false-hit rate, provider mix, spend, budget, errors, restarts and the database's write lock. A number is undefined
 * when nothing in the window reports it (e.g. before the channel agents exist), so views can leave it out instead of
 * showing 0.
 *
 * @module
 */
import { M } from "./names.ts";
import type { StoredSeries } from "./query.ts";
import { percentiles } from "./quantile.ts";
import { deadLettersNow, mergedBuckets, newestBy, observedSum, total } from "./summary.ts";

export interface Kpis {
  messagesIn?: number;
  messagesOut?: number;
  replyLatency?: { p50: number; p90: number; p99: number };
  ackLatency?: { p50: number; p90: number; p99: number };
  /** hits / (hits + misses). */
  cacheHitRate?: number;
  /** false hits / checked hits (a sampled share of the hits is checked). */
  cacheFalseHitRate?: number;
  /** Messages per provider that answered (router decisions; `none`: every provider failed on the last attempt, or
   * nothing could answer without a model; `small-talk`: a greeting or thanks without a model). */
  providerMix?: Record<string, number>;
  /** Share of the orchestrator's messages answered: its decisions, less those failed on their last attempt and those
   * nothing could answer (no FAQ entry, cached answer or model: `unanswered`). */
  answerRate?: number;
  /** Turns per tier. */
  tierMix?: Record<string, number>;
  costUsd?: number;
  tokens?: number;
  /** Latest budget left per period. */
  budgetLeftUsd?: Record<string, number>;
  sendErrors?: number;
  /** Latest dead letters over all groups. */
  deadLetters?: number;
  duplicatesSuppressed?: number;
  /** Agent starts in the window, per agent. */
  starts?: Record<string, number>;
  /** Latest breaker state per provider (0 closed, 1 half-open, 2 open). */
  breakers?: Record<string, number>;
  httpRequests?: number;
  http5xx?: number;
  /** Milliseconds the agents held the database's write lock, all together (one holder at a time). */
  lockHeldMs?: number;
  /** How long transactions waited for the write lock. */
  lockWait?: { p50: number; p90: number; p99: number };
}

/** The metrics `computeKpis` reads: a view of the KPIs reads only these (and its own), not every stored series. */
export const KPI_METRICS: readonly string[] = [
  M.messagesIn,
  M.messagesOut,
  M.replyLatency,
  M.ackLatency,
  M.cacheLookups,
  M.cacheChecks,
  M.cacheFalseHits,
  M.routerDecisions,
  M.cost,
  M.tokens,
  M.budgetLeft,
  M.sendErrors,
  M.busDeadLetters,
  M.duplicatesSuppressed,
  M.agentStarts,
  M.breakerState,
  M.httpRequests,
  M.storeLockHold,
  M.storeLockWait,
];

const named = (series: readonly StoredSeries[], name: string) => series.filter((s) => s.name === name);

function sumBy(
  series: readonly StoredSeries[],
  key: (s: StoredSeries) => string,
): Record<string, number> | undefined {
  if (series.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const s of series) out[key(s)] = (out[key(s)] ?? 0) + total([s]);
  return out;
}

function totalOf(series: readonly StoredSeries[], name: string): number | undefined {
  const list = named(series, name);
  return list.length === 0 ? undefined : total(list);
}

function latency(series: readonly StoredSeries[], name: string) {
  const merged = mergedBuckets(named(series, name));
  return merged ? percentiles(merged.bounds, merged.counts) : undefined;
}

/**
 * The false-hit series, from the first bucket that counted checks on: false hits counted before
 * `aideazz_cache_checks_total` existed (an older version) have no checks to be a share of.
 */
export function checkedFalseHits(series: readonly StoredSeries[]): StoredSeries[] {
  const first = Math.min(...named(series, M.cacheChecks).flatMap((s) => s.points.map((p) => p.start)));
  return named(series, M.cacheFalseHits).map((s) => ({ ...s, points: s.points.filter((p) => p.start >= first) }));
}

/** Headline numbers of the series of one window. */
export function computeKpis(series: readonly StoredSeries[]): Kpis {
  const k: Kpis = {};
  const set = <K extends keyof Kpis>(key: K, value: Kpis[K] | undefined) => {
    if (value !== undefined) k[key] = value;
  };
  set("messagesIn", totalOf(series, M.messagesIn));
  set("messagesOut", totalOf(series, M.messagesOut));
  set("replyLatency", latency(series, M.replyLatency));
  set("ackLatency", latency(series, M.ackLatency));
  const lookups = named(series, M.cacheLookups);
  const hits = total(lookups.filter((s) => s.labels["result"] === "hit"));
  if (lookups.length > 0 && total(lookups) > 0) k.cacheHitRate = hits / total(lookups);
  // Among the checked hits: only a sampled share of hits is checked.
  const checks = totalOf(series, M.cacheChecks) ?? 0;
  if (checks > 0) k.cacheFalseHitRate = total(checkedFalseHits(series)) / checks;
  const decisions = named(series, M.routerDecisions);
  set("providerMix", sumBy(decisions, (s) => s.labels["provider"] ?? "?"));
  const decided = total(decisions);
  const notAnswered = decisions.filter((s) => s.labels["outcome"] === "failed" || s.labels["outcome"] === "unanswered");
  if (decided > 0) k.answerRate = 1 - total(notAnswered) / decided;
  set("tierMix", sumBy(decisions, (s) => s.labels["tier"] ?? "?"));
  set("costUsd", totalOf(series, M.cost));
  set("tokens", totalOf(series, M.tokens));
  set("budgetLeftUsd", newestBy(named(series, M.budgetLeft), (s) => s.labels["period"] ?? "?"));
  set("sendErrors", totalOf(series, M.sendErrors));
  set("deadLetters", deadLettersNow(named(series, M.busDeadLetters)));
  set("duplicatesSuppressed", totalOf(series, M.duplicatesSuppressed));
  set("starts", sumBy(named(series, M.agentStarts), (s) => s.agent));
  set("breakers", newestBy(named(series, M.breakerState), (s) => s.labels["provider"] ?? "?"));
  const http = named(series, M.httpRequests);
  set("httpRequests", http.length === 0 ? undefined : total(http));
  if (http.length > 0) k.http5xx = total(http.filter((s) => (s.labels["status"] ?? "").startsWith("5")));
  const held = named(series, M.storeLockHold);
  if (held.length > 0) k.lockHeldMs = observedSum(held);
  set("lockWait", latency(series, M.storeLockWait));
  return k;
}
