/**
 * What restart logic needs from a service manager, and its systemd implementation over `systemctl`.
 * `aideazz up`'s supervisor implements the same interface over child processes, and tests use a recording fake.
 *
 * @module
 */
import type { RunResult } from "../platform.ts";

export type ActiveState =
  | "active"
  | "activating"
  | "deactivating"
  | "inactive"
  | "failed"
  | "reloading"
  | "unknown";

export interface UnitStatus {
  unit: string;
  active: ActiveState;
  /** systemd's SubState, e.g. "running", "auto-restart", "dead", "failed". */
  sub: string;
  /** systemd's Result of the last run, e.g. "success", "exit-code", "signal", "oom-kill", "start-limit-hit". */
  result: string;
  /** Main process id when running. */
  pid: number | undefined;
  /** When the unit last became active (epoch ms), if known. */
  since: number | undefined;
}

export interface ServiceManager {
  status(unit: string): Promise<UnitStatus>;
  /** Clears the failed state and the start-limit counter (systemctl reset-failed). */
  resetFailed(unit: string): Promise<void>;
  /** Stops (gracefully) if running, then starts; resolves once started. */
  restart(unit: string): Promise<void>;
}

export class ServiceManagerError extends Error {
  constructor(readonly unit: string, readonly action: string, detail: string) {
    super(`${action} ${unit} failed: ${detail}`);
    this.name = "ServiceManagerError";
  }
}

/** True when systemd stopped restarting the unit because it failed too often (StartLimitBurst). */
export function isStartLimitHit(s: UnitStatus): boolean {
  return s.result === "start-limit-hit";
}

const ACTIVE: readonly ActiveState[] = [
  "active",
  "activating",
  "deactivating",
  "inactive",
  "failed",
  "reloading",
];

/** Parses `systemctl show --timestamp=unix -p ActiveState,SubState,Result,MainPID,ActiveEnterTimestamp` output. */
export function parseShow(unit: string, text: string): UnitStatus {
  const props = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) props.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const active = props.get("ActiveState") ?? "unknown";
  const pid = Number(props.get("MainPID") ?? "0");
  const since = /^@(\d+)$/.exec(props.get("ActiveEnterTimestamp") ?? "");
  return {
    unit,
    active: (ACTIVE as readonly string[]).includes(active) ? (active as ActiveState) : "unknown",
    sub: props.get("SubState") ?? "unknown",
    result: props.get("Result") ?? "unknown",
    pid: pid > 0 ? pid : undefined,
    since: since ? Number(since[1]) * 1000 : undefined,
  };
}

export type RunCommand = (command: string, args: readonly string[]) => Promise<RunResult>;

/**
 * systemd through `systemctl` (`--no-ask-password`: the health job runs unattended; as user aideazz it is
 * allowed by the polkit rule that `aideazz systemd render --polkit DIR` writes).
 */
export function createSystemctl(run: RunCommand, systemctl = "systemctl"): ServiceManager {
  const call = async (action: string, unit: string, args: string[]): Promise<string> => {
    const r = await run(systemctl, ["--no-ask-password", ...args]);
    if (r.code !== 0) {
      throw new ServiceManagerError(
        unit,
        action,
        (r.stderr || r.stdout).trim() || `systemctl exited ${r.code}`,
      );
    }
    return r.stdout;
  };
  return {
    async status(unit) {
      return parseShow(
        unit,
        await call("status", unit, [
          "show",
          "--timestamp=unix",
          "-p",
          "ActiveState,SubState,Result,MainPID,ActiveEnterTimestamp",
          "--",
          unit,
        ]),
      );
    },
    async resetFailed(unit) {
      await call("reset-failed", unit, ["reset-failed", "--", unit]);
    },
    async restart(unit) {
      await call("restart", unit, ["restart", "--", unit]);
    },
  };
}
