/**
 * The orchestrator's gauges, sampled on a timer: breaker state per provider, budget left, quota headroom.
 * Counters (decisions, tokens, cost, provider attempts) are counted per turn in turn.ts.
 *
 * @module
 */
import { BREAKER_STATE_VALUE, M } from "../../metrics/names.ts";
import type { Metrics } from "../../metrics/registry.ts";
import type { ModelRouter } from "../../router/chain.ts";
import { readHeadroom } from "../../router/quota.ts";
import type { Client } from "../../store/mod.ts";

export async function sampleRouterGauges(router: ModelRouter, client: Client, metrics: Metrics, now: number): Promise<void> {
  for (const [provider, state] of Object.entries(router.breakerStates())) {
    metrics.set(M.breakerState, BREAKER_STATE_VALUE[state], { provider });
  }
  const budget = await router.budget.status();
  if (budget.dailyUsd !== undefined) {
    metrics.set(M.budgetLeft, Math.max(0, budget.dailyUsd - budget.daySpentUsd - budget.dayReservedUsd), { period: "day" });
  }
  if (budget.monthlyUsd !== undefined) metrics.set(M.budgetLeft, Math.max(0, budget.monthlyUsd - budget.monthUsedUsd), { period: "month" });
  for (const h of await readHeadroom(client, now)) {
    metrics.set(M.quotaHeadroom, h.ratio, { provider: h.provider, model: h.model, window: h.window });
  }
}
