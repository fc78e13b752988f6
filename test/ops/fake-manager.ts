/** A recording ServiceManager that behaves like systemd for one crash-looping or stalled unit. */
import { type ServiceManager, ServiceManagerError, type UnitStatus } from "../../src/ops/mod.ts";

export interface Call {
  at: number;
  op: "status" | "reset-failed" | "restart";
  unit: string;
}

export interface FakeUnit {
  active: UnitStatus["active"];
  sub: string;
  result: string;
  since?: number;
}

export interface FakeSystemd extends ServiceManager {
  calls: Call[];
  units: Map<string, FakeUnit>;
}

/**
 * `afterRestart(unit)` decides the unit's state after a restart (e.g. a crash loop ends in start-limit-hit
 * again). Like systemd, restart of a unit whose start limit was hit fails until reset-failed.
 */
export function createFakeSystemd(now: () => number, afterRestart: (unit: string) => FakeUnit): FakeSystemd {
  const calls: Call[] = [];
  const units = new Map<string, FakeUnit>();
  const get = (unit: string) => units.get(unit) ?? { active: "inactive", sub: "dead", result: "success" };
  return {
    calls,
    units,
    status(unit) {
      calls.push({ at: now(), op: "status", unit });
      const u = get(unit);
      return Promise.resolve({
        unit,
        active: u.active,
        sub: u.sub,
        result: u.result,
        pid: undefined,
        since: u.since,
      });
    },
    resetFailed(unit) {
      calls.push({ at: now(), op: "reset-failed", unit });
      const u = get(unit);
      if (u.active === "failed") units.set(unit, { active: "inactive", sub: "dead", result: "success" });
      return Promise.resolve();
    },
    restart(unit) {
      calls.push({ at: now(), op: "restart", unit });
      if (get(unit).result === "start-limit-hit") {
        return Promise.reject(
          new ServiceManagerError(unit, "restart", "Start request repeated too quickly."),
        );
      }
      units.set(unit, afterRestart(unit));
      return Promise.resolve();
    },
  };
}
