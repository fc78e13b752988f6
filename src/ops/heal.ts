/**
 * `aideazz health --restart`: restarts the units of down agents (and of the llama.cpp sidecar when ops.llama
 * is set) with flap protection, records every restart with its reason in the store and the journal, and
 * recycles at most one old agent per run.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { type BackoffPolicy, backoffMs, decideRestart, HOUR_MS } from "./backoff.ts";
import type { HealthReport, TargetState } from "./health.ts";
import { planRecycle, recycleSchedule } from "./recycle.ts";
import type { RestartLog } from "./restarts.ts";
import { storeErrorCode } from "../store/mod.ts";
import { isStartLimitHit, type ServiceManager } from "./service-manager.ts";
import { formatDuration } from "./sizes.ts";

/** A unit that became active this recently is still starting: not restarted for not answering yet. */
export const START_GRACE_MS = 30_000;

export interface HealAction {
  target: string;
  unit: string;
  /** What was done: "restart", "reset-failed+restart", "recycle", or "skip". */
  action: string;
  reason: string;
  ok: boolean;
  detail?: string;
}

export interface HealDeps {
  manager: ServiceManager;
  restarts: RestartLog;
  log: Logger;
  now: () => number;
}

export function policyOf(config: Config): BackoffPolicy {
  const r = config.ops.restart;
  return {
    minIntervalMs: r.minIntervalSec * 1000,
    maxIntervalMs: r.maxIntervalSec * 1000,
    maxPerHour: r.maxPerHour,
  };
}

async function failureTimes(deps: HealDeps, target: string, since: number): Promise<number[]> {
  try {
    return await deps.restarts.failureTimes(target, since);
  } catch (err) {
    deps.log.error("could not read past restarts: back-off limited to one restart per run", {
      target,
      code: storeErrorCode(err),
    });
    return [];
  }
}

const STOPPED = "the unit is stopped (inactive): an operator stopped it or it is not enabled";

async function restartOne(t: TargetState, config: Config, deps: HealDeps): Promise<HealAction> {
  const skip = (reason: string): HealAction => {
    deps.log.warn("not restarting", { target: t.target, unit: t.unit, reason, health: t.detail });
    return { target: t.target, unit: t.unit, action: "skip", reason, ok: true };
  };
  let status;
  try {
    status = await deps.manager.status(t.unit);
  } catch (err) {
    return skip(`cannot read the unit's state: ${(err as Error).message}`);
  }
  const now = deps.now();
  if (status.active === "inactive") return skip(STOPPED);
  if (status.active === "activating" || status.active === "deactivating" || status.active === "reloading") {
    return skip(`systemd is already on it (${status.active}/${status.sub})`);
  }
  if (status.active === "active" && status.since !== undefined && now - status.since < START_GRACE_MS) {
    return skip(`started ${Math.round((now - status.since) / 1000)} s ago; giving it time to come up`);
  }
  const policy = policyOf(config);
  const history = await failureTimes(deps, t.target, now - HOUR_MS);
  const decision = decideRestart(history, now, policy);
  if (decision.action !== "restart") {
    return skip(`${decision.reason}; next attempt after ${new Date(decision.until).toISOString()}`);
  }
  const limitHit = isStartLimitHit(status);
  const action = limitHit ? "reset-failed+restart" : "restart";
  const reason = `down: ${t.detail}; unit ${status.active}/${status.sub}, last result ${status.result}`;
  // The back-off lives in the store: a restart it could not record would be forgotten, and the next run would
  // restart at once — with a full disk, a common cause of a crash loop, one restart per run. So the attempt is
  // recorded first (not ok until it is made), and a store that refuses it means no restart this run.
  // Recorded only if no restart of it is more recent than the back-off ever allows (backoffMs(1)): such a one
  // was recorded by an overlapping run (the timer's and an operator's) after this one read the history.
  let id: number | undefined;
  try {
    id = await deps.restarts.claim({
      target: t.target,
      unit: t.unit,
      at: now,
      kind: "failure",
      reason,
      action,
      ok: false,
      detail: "restarting",
    }, backoffMs(1, policy));
  } catch (err) {
    return skip(`cannot record the restart in the store (${storeErrorCode(err)}), and its back-off depends on it`);
  }
  if (id === undefined) return skip("another health run restarted it since this run read the back-off");
  let ok = true;
  let detail: string | undefined;
  try {
    if (limitHit) await deps.manager.resetFailed(t.unit);
    await deps.manager.restart(t.unit);
  } catch (err) {
    ok = false;
    detail = (err as Error).message;
  }
  await deps.restarts.settle(id, { ok, detail }).catch((err) =>
    deps.log.error("could not record the restart's outcome in the store", {
      target: t.target,
      code: storeErrorCode(err),
    })
  );
  const fields = {
    target: t.target,
    unit: t.unit,
    action,
    reason,
    restartsThisHour: history.length + 1,
    ...(detail ? { error: detail } : {}),
  };
  if (ok) deps.log.warn("restarted", fields);
  else deps.log.error("restart failed", fields);
  return { target: t.target, unit: t.unit, action, reason, ok, ...(detail ? { detail } : {}) };
}

async function recycleOne(
  report: HealthReport,
  config: Config,
  deps: HealDeps,
): Promise<HealAction | undefined> {
  const plan = recycleSchedule(
    config.agents.map((a) => ({ name: a.name, recycleAfterSec: a.limits?.recycleAfterSec })),
    config.ops.recycle,
  );
  const now = deps.now();
  const agents = report.targets.filter((t) => t.kind === "agent");
  // Any agent's latest start counts too (systemd's own restarts, crashes), not only ours.
  const youngest = Math.min(...agents.map((t) => t.uptimeSec ?? Infinity));
  const lastLogged = await deps.restarts.lastAt(now).catch(() => undefined);
  const lastStart = Math.max(
    lastLogged ?? -Infinity,
    Number.isFinite(youngest) ? now - youngest * 1000 : -Infinity,
  );
  /** The agent's memory check past the mark (its MemoryHigh, or memoryWarnFraction of MemoryMax). */
  const memoryHigh = (agent: string) =>
    report.checks.find((c) => c.name === `memory ${agent}` && c.level !== "ok");
  const chosen = planRecycle(
    agents.map((t) => ({
      agent: t.target,
      uptimeSec: t.uptimeSec,
      healthy: t.level === "ok",
      afterSec: plan.find((p) => p.agent === t.target)?.afterSec ?? 0,
      memoryHigh: memoryHigh(t.target) !== undefined,
    })),
    {
      now,
      lastRestartAt: Number.isFinite(lastStart) ? lastStart : undefined,
      minGapSec: config.ops.recycle.minGapSec,
    },
  );
  const t = agents.find((a) => a.target === chosen);
  if (!t) return undefined;
  const memory = memoryHigh(t.target);
  const reason = memory
    ? `recycle: memory ${memory.detail}`
    : `recycle: up ${formatDuration((t.uptimeSec ?? 0) * 1000)}, recycle age ${
      formatDuration((plan.find((p) => p.agent === t.target)?.afterSec ?? 0) * 1000)
    }`;
  // Claimed before the restart (which takes up to the unit's stop timeout): a health run overlapping this one (the
  // timer's and an operator's) must not recycle the same agent again meanwhile.
  let id: number | undefined;
  try {
    id = await deps.restarts.claimRecycle({
      target: t.target,
      unit: t.unit,
      at: now,
      kind: "recycle",
      reason,
      action: "recycle",
      ok: false,
      detail: "restarting",
    }, config.ops.recycle.minGapSec * 1000);
  } catch (err) {
    deps.log.error("cannot record the recycle in the store: not recycling", { target: t.target, code: storeErrorCode(err) });
    return undefined;
  }
  if (id === undefined) return undefined; // another health run restarted an agent since this one read the log
  let ok = true;
  let detail: string | undefined;
  try {
    await deps.manager.restart(t.unit);
  } catch (err) {
    ok = false;
    detail = (err as Error).message;
  }
  await deps.restarts.settle(id, { ok, detail }).catch((err) =>
    deps.log.error("could not record the recycle's outcome in the store", { target: t.target, code: storeErrorCode(err) })
  );
  deps.log.info(ok ? "recycled" : "recycle failed", {
    target: t.target,
    unit: t.unit,
    reason,
    ...(detail ? { error: detail } : {}),
  });
  return { target: t.target, unit: t.unit, action: "recycle", reason, ok, ...(detail ? { detail } : {}) };
}

/** Restarts what is down (one by one), then recycles one old agent if nothing needed a restart. */
export async function heal(report: HealthReport, config: Config, deps: HealDeps): Promise<HealAction[]> {
  // The sidecar's unit is ours only when ops.llama configures it (a router provider may point elsewhere).
  const down = report.targets.filter((t) =>
    t.level === "down" && (t.kind === "agent" || config.ops.llama !== undefined)
  );
  const actions: HealAction[] = [];
  for (const t of down) actions.push(await restartOne(t, config, deps));
  // No recycle while a restart was made or is pending (its back-off, systemd on it): one agent down at a time. An
  // agent an operator stopped is left alone, and does not hold the others' recycling.
  if (actions.some((a) => a.reason !== STOPPED)) return actions;
  const recycled = await recycleOne(report, config, deps);
  return recycled ? [...actions, recycled] : actions;
}
