/**
 * `aideazz up`'s supervisor: runs each agent as a child process, prefixes its output lines with its name,
 * restarts it when it fails (exit code ≠ 0 or a signal; exit 0 means it was asked to stop, as with systemd's
 * Restart=on-failure) with the shared back-off (backoff.ts), gives up on a crash-looping agent at the
 * hourly ceiling while the others keep running, enforces each agent's memory limit by polling its RSS (like
 * systemd's MemoryMax=), and stops everything gracefully: SIGTERM, wait for the stop budget, then SIGKILL.
 * It implements ServiceManager, so the same restart logic (rolling restarts, tests) drives it and systemd.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { ChildHandle, ExitStatus, SpawnOptions } from "../platform.ts";
import { type BackoffPolicy, decideRestart, type RestartDecision } from "./backoff.ts";
import type { ServiceManager, UnitStatus } from "./service-manager.ts";
import { niced } from "./priority.ts";
import { formatBytes } from "../metrics/mod.ts";

export interface ChildSpec {
  /** Agent name: the output prefix. */
  name: string;
  /** The ServiceManager name of this child (e.g. `aideazz-agent@<name>.service`). */
  unit: string;
  command: string;
  args: readonly string[];
  /** Killed when its RSS exceeds this (bytes). */
  memoryMaxBytes?: number | undefined;
  /** Started with `nice -n <nice>` when above 0 (src/ops/priority.ts). */
  nice?: number | undefined;
}

export interface SupervisorOptions {
  policy: BackoffPolicy;
  stopTimeoutMs: number;
  /** How often RSS is polled for the memory limit; 0 turns enforcement off. */
  memoryPollMs: number;
}

export interface SupervisorDeps {
  spawn: (command: string, args: readonly string[], opts: SpawnOptions) => ChildHandle;
  env: Readonly<Record<string, string | undefined>>;
  now: () => number;
  readRss: (pid: number) => number | undefined;
  /** up's own structured log lines. */
  log: Logger;
  /** Children's output, already prefixed. */
  write: (text: string) => void;
}

export type ChildPhase = "running" | "backoff" | "failed" | "stopping" | "stopped";

interface Child {
  spec: ChildSpec;
  phase: ChildPhase;
  handle: ChildHandle | undefined;
  startedAt: number | undefined;
  starts: number[];
  lastResult: string;
  killReason: string | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  tail: string[];
  /** Set while restart() replaces the process: its exit is expected. */
  replacing: boolean;
}

export interface Supervisor extends ServiceManager {
  start(): void;
  /** Graceful stop of every child; resolves when all have exited. */
  stop(): Promise<void>;
  /**
   * Resolves when nothing runs or waits to run any more (outside stop()): "failed" when some agent was given
   * up on, "stopped" when all exited on purpose.
   */
  readonly settled: Promise<"failed" | "stopped">;
  phases(): Record<string, ChildPhase>;
}

function describeExit(s: ExitStatus): string {
  return s.signal ? `killed by ${s.signal}` : `exited with code ${s.code}`;
}

/**
 * The back-off for a child that exited: `starts` holds its first start and then one entry per restart. The
 * ceiling counts restarts; even the first restart waits the minimum interval after the first start.
 */
export function decideCrashRestart(
  starts: readonly number[],
  now: number,
  policy: BackoffPolicy,
): RestartDecision {
  const [first, ...restarts] = starts;
  const decision = decideRestart(restarts, now, policy);
  if (
    decision.action === "restart" && restarts.length === 0 && first !== undefined &&
    now < first + policy.minIntervalMs
  ) {
    return {
      action: "wait",
      until: first + policy.minIntervalMs,
      reason: "minimum interval after the first start",
    };
  }
  return decision;
}

export function createSupervisor(
  specs: readonly ChildSpec[],
  opts: SupervisorOptions,
  deps: SupervisorDeps,
): Supervisor {
  const width = Math.max(...specs.map((s) => s.name.length));
  const children = new Map<string, Child>(specs.map((spec) => [spec.unit, {
    spec,
    phase: "stopped",
    handle: undefined,
    startedAt: undefined,
    starts: [],
    lastResult: "success",
    killReason: undefined,
    timer: undefined,
    tail: [],
    replacing: false,
  }]));
  let stopping = false;
  let memoryTimer: ReturnType<typeof setInterval> | undefined;
  // (Promise.withResolvers is not in Node 20, which runs the tests.)
  let resolveSettled: (v: "failed" | "stopped") => void = () => {};
  const settled = new Promise<"failed" | "stopped">((resolve) => (resolveSettled = resolve));

  const checkSettled = () => {
    const all = [...children.values()];
    if (stopping || !all.every((c) => c.phase === "failed" || c.phase === "stopped")) return;
    resolveSettled(all.some((c) => c.phase === "failed") ? "failed" : "stopped");
  };

  const spawnChild = (c: Child) => {
    const now = deps.now();
    c.starts.push(now);
    c.startedAt = now;
    c.killReason = undefined;
    c.phase = "running";
    const prefix = `${c.spec.name.padEnd(width)} | `;
    const handle = deps.spawn(...niced(c.spec.nice ?? 0, c.spec.command, c.spec.args), {
      env: deps.env,
      onLine: (line) => {
        c.tail = [...c.tail.slice(-4), line];
        deps.write(prefix + line + "\n");
      },
    });
    c.handle = handle;
    deps.log.info("agent started", { agent: c.spec.name, pid: handle.pid, start: c.starts.length, at: now });
    void handle.exited.then((status) => onExit(c, handle, status));
  };

  const onExit = (c: Child, handle: ChildHandle, status: ExitStatus) => {
    if (c.handle !== handle) return;
    c.handle = undefined;
    c.startedAt = undefined;
    if (stopping || c.replacing) {
      c.phase = "stopped";
      return;
    }
    if (status.code === 0 && c.killReason === undefined) {
      c.phase = "stopped";
      c.lastResult = "success";
      deps.log.info("agent stopped (exit 0): not restarting", { agent: c.spec.name });
      checkSettled();
      return;
    }
    c.lastResult = c.killReason ?? (status.signal ? "signal" : "exit-code");
    const why = c.killReason === "oom-kill" ? "killed over its memory limit" : describeExit(status);
    const decision = decideCrashRestart(c.starts, deps.now(), opts.policy);
    const last = c.tail.at(-1);
    if (decision.action === "give-up") {
      c.phase = "failed";
      c.lastResult = "start-limit-hit";
      deps.log.error("agent failed: giving up", {
        agent: c.spec.name,
        exit: why,
        reason: decision.reason,
        retryAt: new Date(decision.until).toISOString(),
        ...(last ? { lastOutput: last } : {}),
      });
      schedule(c, decision.until - deps.now());
      checkSettled();
      return;
    }
    const delay = decision.action === "wait" ? decision.until - deps.now() : 0;
    c.phase = "backoff";
    deps.log.warn("agent exited; restarting", {
      agent: c.spec.name,
      exit: why,
      inMs: delay,
      ...(last ? { lastOutput: last } : {}),
    });
    schedule(c, delay);
  };

  const schedule = (c: Child, delayMs: number) => {
    clearTimeout(c.timer);
    const at = deps.now() + Math.max(0, delayMs);
    const arm = (ms: number) => {
      c.timer = setTimeout(() => {
        // Timers may fire a millisecond before the wall clock says so: never start before the back-off ends.
        if (deps.now() < at) return arm(at - deps.now());
        c.timer = undefined;
        if (!stopping && c.handle === undefined) spawnChild(c);
      }, ms);
    };
    arm(Math.max(0, delayMs));
  };

  const terminate = async (c: Child): Promise<void> => {
    const h = c.handle;
    if (!h) return;
    c.phase = "stopping";
    h.kill("SIGTERM");
    h.kill("SIGCONT"); // a stopped (SIGSTOP) process handles SIGTERM only once continued, as under systemd
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        deps.log.warn("agent did not stop in time: SIGKILL", {
          agent: c.spec.name,
          afterMs: opts.stopTimeoutMs,
        });
        h.kill("SIGKILL");
        resolve();
      }, opts.stopTimeoutMs);
    });
    await Promise.race([h.exited, killed]);
    await h.exited;
    clearTimeout(timer);
  };

  const pollMemory = () => {
    for (const c of children.values()) {
      const h = c.handle;
      const max = c.spec.memoryMaxBytes;
      if (!h || max === undefined || c.phase !== "running") continue;
      const rss = deps.readRss(h.pid);
      if (rss !== undefined && rss > max) {
        c.killReason = "oom-kill";
        deps.log.warn("agent over its memory limit: SIGKILL", {
          agent: c.spec.name,
          rss: formatBytes(rss),
          memoryMax: formatBytes(max),
        });
        h.kill("SIGKILL");
      }
    }
  };

  const get = (unit: string): Child => {
    const c = children.get(unit);
    if (!c) throw new Error(`no agent with unit ${unit} under this supervisor`);
    return c;
  };

  return {
    settled,
    start() {
      for (const c of children.values()) spawnChild(c);
      if (opts.memoryPollMs > 0) memoryTimer = setInterval(pollMemory, opts.memoryPollMs);
    },
    async stop() {
      stopping = true;
      clearInterval(memoryTimer);
      for (const c of children.values()) clearTimeout(c.timer);
      await Promise.all([...children.values()].map((c) => terminate(c)));
      for (const c of children.values()) c.phase = "stopped";
    },
    phases() {
      return Object.fromEntries([...children.values()].map((c) => [c.spec.name, c.phase]));
    },
    status(unit): Promise<UnitStatus> {
      const c = get(unit);
      const map: Record<ChildPhase, [UnitStatus["active"], string]> = {
        running: ["active", "running"],
        backoff: ["activating", "auto-restart"],
        failed: ["failed", "failed"],
        stopping: ["deactivating", "stop-sigterm"],
        stopped: ["inactive", "dead"],
      };
      const [active, sub] = map[c.phase];
      return Promise.resolve({
        unit,
        active,
        sub,
        result: c.lastResult,
        pid: c.handle?.pid,
        since: c.startedAt,
      });
    },
    resetFailed(unit) {
      const c = get(unit);
      c.starts = [];
      c.lastResult = "success";
      if (c.phase === "failed") {
        clearTimeout(c.timer);
        c.phase = "stopped";
      }
      return Promise.resolve();
    },
    async restart(unit) {
      const c = get(unit);
      if (stopping) throw new Error("the supervisor is stopping");
      clearTimeout(c.timer);
      c.replacing = true;
      try {
        await terminate(c);
      } finally {
        c.replacing = false;
      }
      if (!stopping) spawnChild(c);
    },
  };
}
