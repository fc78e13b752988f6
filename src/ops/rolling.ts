/**
 * Rolling restart (the update procedure): restart one agent, wait until its /health answers 200 (and still does,
 * from the same process, a few seconds later), then the next.
 * A failure stops the roll, so a bad binary takes down one agent, not all of them.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { heldByOtherAgent } from "./health.ts";
import type { ProbeResult } from "./probe.ts";
import type { ServiceManager } from "./service-manager.ts";

export interface RollingTarget {
  name: string;
  unit: string;
  healthUrl: string;
}

export interface RollingStep {
  name: string;
  /** How long the restart call took (graceful stop + start). */
  restartMs: number;
  /** From the restart call until /health had answered 200 for `settleMs`. */
  healthyAfterMs: number;
  /** Why the agent was not restarted (it was left as it was). */
  skipped?: string;
}

export class RollingRestartError extends Error {
  constructor(readonly agent: string, detail: string, readonly done: RollingStep[]) {
    super(`rolling restart stopped at agent "${agent}": ${detail}; agents after it were not restarted`);
    this.name = "RollingRestartError";
  }
}

export interface RollingDeps {
  manager: ServiceManager;
  /** One GET of a health URL (with its own deadline). */
  probe: (url: string) => Promise<ProbeResult>;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  log: Logger;
}

/**
 * Restarts `targets` one at a time, each healthy before the next: its /health answering 200 from one process for
 * `settleMs` (default 0: the first 200). With `skipStopped`, an agent whose unit is stopped
 * (an operator stopped it) is left stopped: a restart would start it.
 *
 * @example
 * ```ts
 * const steps = await rollingRestart(targets, { waitHealthyMs: 60_000, pollMs: 250 }, deps);
 * ```
 */
export async function rollingRestart(
  targets: readonly RollingTarget[],
  opts: { waitHealthyMs: number; pollMs: number; settleMs?: number; skipStopped?: boolean },
  deps: RollingDeps,
): Promise<RollingStep[]> {
  const done: RollingStep[] = [];
  for (const t of targets) {
    if (opts.skipStopped) {
      let active;
      try {
        active = (await deps.manager.status(t.unit)).active;
      } catch (err) {
        throw new RollingRestartError(t.name, (err as Error).message, done);
      }
      if (active === "inactive") {
        const skipped = "stopped (inactive): left stopped";
        deps.log.info("rolling restart: not restarting", { agent: t.name, unit: t.unit, reason: skipped });
        done.push({ name: t.name, restartMs: 0, healthyAfterMs: 0, skipped });
        continue;
      }
    }
    const started = deps.now();
    deps.log.info("rolling restart: restarting", { agent: t.name, unit: t.unit });
    try {
      await deps.manager.restart(t.unit);
    } catch (err) {
      throw new RollingRestartError(t.name, (err as Error).message, done);
    }
    const restartMs = deps.now() - started;
    let last = "no answer";
    // Since when the process now answering 200 (its pid) has: healthy once that is `settleMs`, so a binary that
    // crashes soon after its start (systemd starts another process) stops the roll too.
    let answering: { since: number; pid: unknown } | undefined;
    for (;;) {
      const r = await deps.probe(t.healthUrl);
      // Another agent's 200 on its port means this one is not running (it cannot bind the port).
      const held = r.answered ? heldByOtherAgent(r.body, t.name, new URL(t.healthUrl).port) : undefined;
      if (r.answered && r.status === 200 && !held) {
        const pid = (r.body as { pid?: unknown } | undefined)?.pid;
        if (answering === undefined || answering.pid !== pid) answering = { since: deps.now(), pid };
        const forMs = deps.now() - answering.since;
        if (forMs >= (opts.settleMs ?? 0)) break;
        last = `healthy for only ${Math.round(forMs / 1000)} s`;
      } else {
        answering = undefined;
        last = held ?? (r.answered ? `HTTP ${r.status}` : r.error ?? "no answer");
      }
      if (deps.now() - started > opts.waitHealthyMs) {
        throw new RollingRestartError(
          t.name,
          `not healthy ${Math.round(opts.waitHealthyMs / 1000)} s after its restart (${last})`,
          done,
        );
      }
      await deps.sleep(opts.pollMs);
    }
    const step = { name: t.name, restartMs, healthyAfterMs: deps.now() - started };
    deps.log.info("rolling restart: healthy again", { agent: t.name, ...step });
    done.push(step);
  }
  return done;
}
