/**
 * `aideazz health`: one report over every configured agent (/health with a deadline, memory against its limit),
 * the llama.cpp sidecar, the store (writable, disk free, WAL size) and the bus (backlog age, dead letters).
 * Levels: ok, degraded (works, needs attention), down (not working: restart it).
 *
 * @module
 */
import { dirname } from "node:path";
import type { GroupStats } from "../bus/types.ts";
import type { Config } from "../config.ts";
import type { DiskSpace } from "../platform.ts";
import { type Store, storeErrorCode, storeErrorText } from "../store/mod.ts";
import { probe, probeHost, type ProbeOptions } from "./probe.ts";
import { readVmRss } from "./rss.ts";
import { formatBytes } from "../metrics/mod.ts";
import { defaultMemoryHigh, formatDuration, toBytes } from "./sizes.ts";
import { agentUnit, LLAMA_UNIT } from "./units.ts";

export type Level = "ok" | "degraded" | "down";

export interface Check {
  name: string;
  level: Level;
  detail: string;
}

export interface TargetState {
  kind: "agent" | "sidecar";
  /** Agent name, or "llama" for the sidecar. */
  target: string;
  unit: string;
  level: Level;
  detail: string;
  uptimeSec?: number;
  rssBytes?: number;
}

export interface HealthReport {
  at: number;
  status: Level;
  targets: TargetState[];
  checks: Check[];
}

export interface HealthDeps {
  fetch: typeof fetch;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  diskSpace: (path: string) => Promise<DiskSpace>;
  fileSize: (path: string) => Promise<number | undefined>;
  /** The opened store, or why it could not be opened. */
  store: Store | { error: string };
  /** The bus's per-group statistics; undefined when this build has no bus. */
  busStats: (() => Promise<GroupStats[]>) | undefined;
}

const RANK: Record<Level, number> = { ok: 0, degraded: 1, down: 2 };

export function worst(levels: readonly Level[]): Level {
  return levels.reduce<Level>((a, b) => (RANK[b] > RANK[a] ? b : a), "ok");
}

/** Exit code of `aideazz health`: 0 healthy, 1 degraded, 2 down. */
export function exitCodeOf(level: Level): number {
  return RANK[level];
}

/** The sidecar's base URL: `ops.llama.url`, else the first router provider of kind llama-cpp (without /v1). */
export function llamaUrlOf(config: Config): string | undefined {
  if (config.ops.llama) return config.ops.llama.url.replace(/\/$/, "");
  const provider = Object.values(config.router.providers).find((p) => p.kind === "llama-cpp");
  return provider?.baseUrl?.replace(/\/$/, "").replace(/\/v1$/, "");
}

interface AgentBody {
  status?: unknown;
  agent?: unknown;
  uptimeS?: unknown;
  rssBytes?: unknown;
  pid?: unknown;
  db?: { ok?: unknown; detail?: unknown };
  checks?: Record<string, { ok?: unknown; detail?: unknown }>;
}

/**
 * Why agent `name` is not running although its port answers: the /health `body` there is another agent's (an old
 * unit still running after a rename). Undefined when it is not.
 */
export function heldByOtherAgent(body: unknown, name: string, port: number | string): string | undefined {
  const agent = (body as { agent?: unknown } | undefined)?.agent;
  if (typeof agent !== "string" || agent === name) return undefined;
  return `port ${port} answers as agent "${agent}", not "${name}": ` +
    "another process holds its port (an old unit still running?)";
}

function failingChecks(body: AgentBody): string {
  const failed: string[] = [];
  if (body.db && body.db.ok === false) failed.push(`db: ${String(body.db.detail ?? "failed")}`);
  for (const [name, c] of Object.entries(body.checks ?? {})) {
    if (c.ok === false) failed.push(`${name}: ${String(c.detail ?? "failed")}`);
  }
  return failed.join("; ");
}

async function checkAgent(
  config: Config,
  i: number,
  popts: ProbeOptions,
): Promise<{ state: TargetState; memory?: Check }> {
  const a = config.agents[i]!;
  const unit = agentUnit(a.name);
  const r = await probe(`http://${probeHost(a.host)}:${a.port}/health`, popts);
  if (!r.answered) {
    return { state: { kind: "agent", target: a.name, unit, level: "down", detail: r.error ?? "no answer" } };
  }
  const body = (typeof r.body === "object" && r.body !== null ? r.body : {}) as AgentBody;
  // The uptime and memory in another agent's body are the other's.
  const held = heldByOtherAgent(r.body, a.name, a.port);
  if (held) return { state: { kind: "agent", target: a.name, unit, level: "down", detail: held } };
  const uptimeSec = typeof body.uptimeS === "number" ? body.uptimeS : undefined;
  let rssBytes = typeof body.rssBytes === "number" && body.rssBytes > 0 ? body.rssBytes : undefined;
  if (rssBytes === undefined && typeof body.pid === "number") {
    rssBytes = readVmRss(body.pid);
  }
  let level: Level = "ok";
  let detail = `up ${formatDuration((uptimeSec ?? 0) * 1000)}`;
  if (r.status !== 200) {
    level = "degraded";
    detail = body.status === "stopping"
      ? "stopping"
      : `HTTP ${r.status}${failingChecks(body) ? `: ${failingChecks(body)}` : ""}`;
  } else if (r.ms > popts.timeoutMs / 2) {
    level = "degraded";
    detail += `; slow: /health took ${r.ms} ms`;
  }
  const state: TargetState = {
    kind: "agent",
    target: a.name,
    unit,
    level,
    detail,
    ...(uptimeSec !== undefined ? { uptimeSec } : {}),
    ...(rssBytes !== undefined ? { rssBytes } : {}),
  };
  if (rssBytes === undefined) return { state };
  const limits: { memoryMax: string; memoryHigh?: string | undefined } = a.limits ?? { memoryMax: "256M" };
  const max = toBytes(limits.memoryMax);
  // The unit's MemoryHigh (the drop-in's default when the config names none): past it the kernel reclaims.
  const warnAt = Math.min(
    max * config.ops.health.memoryWarnFraction,
    toBytes(limits.memoryHigh ?? defaultMemoryHigh(limits.memoryMax)),
  );
  const memory: Check = {
    name: `memory ${a.name}`,
    level: rssBytes > warnAt ? "degraded" : "ok",
    detail: `${formatBytes(rssBytes)} of MemoryMax ${limits.memoryMax} (${
      Math.round((rssBytes / max) * 100)
    }%)`,
  };
  return { state, memory };
}

async function checkLlama(url: string, popts: ProbeOptions): Promise<TargetState> {
  const r = await probe(`${url}/health`, popts);
  const base = { kind: "sidecar" as const, target: "llama", unit: LLAMA_UNIT };
  if (!r.answered) return { ...base, level: "down", detail: `${url}: ${r.error ?? "no answer"}` };
  // llama-server answers 503 while it loads the model: it is coming up, not broken.
  if (r.status === 503) return { ...base, level: "degraded", detail: `${url}: loading the model (HTTP 503)` };
  if (r.status !== 200) return { ...base, level: "down", detail: `${url}: HTTP ${r.status}` };
  // An agent configured on the sidecar's port answers 200 too: llama-server is not what runs there.
  const agent = (r.body as { agent?: unknown } | undefined)?.agent;
  if (typeof agent === "string") {
    return { ...base, level: "down", detail: `${url}: the aideazz agent "${agent}" answers there, not llama-server` };
  }
  return { ...base, level: "ok", detail: url };
}

async function checkStore(config: Config, deps: HealthDeps): Promise<Check[]> {
  if ("error" in deps.store) return [{ name: "database", level: "down", detail: deps.store.error }];
  const store = deps.store;
  const checks: Check[] = [];
  try {
    await store.client.batch([{
      sql: `INSERT INTO health_last (id, at, status, report) VALUES (1, ?, 'checking', '{}')
            ON CONFLICT (id) DO UPDATE SET at = excluded.at, status = excluded.status`,
      args: [deps.now()],
    }], "write");
    checks.push({ name: "database", level: "ok", detail: "writable" });
  } catch (err) {
    // A read-only answer names the file this user cannot write, and the fix.
    const why = storeErrorText(err, false, store.path);
    checks.push({ name: "database", level: "down", detail: `not writable (${why})` });
  }
  if (store.path === undefined || store.path === ":memory:") {
    checks.push({ name: "disk", level: "ok", detail: "remote store: not checked here" });
    return checks;
  }
  const h = config.ops.health;
  try {
    const space = await deps.diskSpace(dirname(store.path));
    const low = space.freeBytes < toBytes(h.minDiskFree);
    checks.push({
      name: "disk",
      level: low ? "degraded" : "ok",
      detail: `${formatBytes(space.freeBytes)} free of ${formatBytes(space.totalBytes)}${
        low ? ` (below ${h.minDiskFree})` : ""
      }`,
    });
  } catch (err) {
    checks.push({
      name: "disk",
      level: "degraded",
      detail: `cannot read free space (${(err as Error).message})`,
    });
  }
  const wal = (await deps.fileSize(`${store.path}-wal`)) ?? 0;
  const big = wal > toBytes(h.maxWal);
  checks.push({
    name: "wal",
    level: big ? "degraded" : "ok",
    detail: `${formatBytes(wal)}${big ? ` (above ${h.maxWal}: checkpoints starved)` : ""}`,
  });
  return checks;
}

async function checkBus(config: Config, deps: HealthDeps): Promise<Check[]> {
  // The bus is in the database: one that cannot be opened has no working bus.
  if ("error" in deps.store) {
    return [{ name: "bus", level: "down", detail: "not checked: the database cannot be opened" }];
  }
  if (!deps.busStats) return [{ name: "bus", level: "ok", detail: "not checked: this build has no bus" }];
  let stats: GroupStats[];
  try {
    stats = await deps.busStats();
  } catch (err) {
    return [{
      name: "bus",
      level: "degraded",
      detail: `cannot read bus statistics (${storeErrorCode(err)})`,
    }];
  }
  const maxAgeMs = config.ops.health.maxBacklogAgeSec * 1000;
  const oldest = stats.reduce<GroupStats | undefined>(
    (o, s) => (s.oldestAgeMs !== null && (o === undefined || s.oldestAgeMs > (o.oldestAgeMs ?? 0)) ? s : o),
    undefined,
  );
  const ready = stats.reduce((n, s) => n + s.ready + s.delayed, 0);
  const inFlight = stats.reduce((n, s) => n + s.inFlight, 0);
  const backlog: Check = oldest?.oldestAgeMs != null
    ? {
      name: "bus backlog",
      level: oldest.oldestAgeMs > maxAgeMs ? "degraded" : "ok",
      detail: `${ready} waiting, ${inFlight} in flight; oldest ${
        formatDuration(oldest.oldestAgeMs)
      } (${oldest.topic}/${oldest.group})`,
    }
    : { name: "bus backlog", level: "ok", detail: `${ready} waiting, ${inFlight} in flight` };
  const dead = stats.filter((s) => s.deadLetters > 0);
  const deadTotal = dead.reduce((n, s) => n + s.deadLetters, 0);
  return [backlog, {
    name: "dead letters",
    level: deadTotal > 0 ? "degraded" : "ok",
    detail: deadTotal === 0 ? "none" : dead.map((s) => `${s.topic}/${s.group}: ${s.deadLetters}`).join(", "),
  }];
}

/** Checks everything once. */
export async function checkHealth(config: Config, deps: HealthDeps): Promise<HealthReport> {
  const popts: ProbeOptions = {
    fetch: deps.fetch,
    timeoutMs: config.ops.health.timeoutMs,
    now: deps.now,
    sleep: deps.sleep,
  };
  const at = deps.now();
  const llamaUrl = llamaUrlOf(config);
  const [agents, llama, store, bus] = await Promise.all([
    Promise.all(config.agents.map((_, i) => checkAgent(config, i, popts))),
    llamaUrl ? checkLlama(llamaUrl, popts) : Promise.resolve(undefined),
    checkStore(config, deps),
    checkBus(config, deps),
  ]);
  const targets = [...agents.map((a) => a.state), ...(llama ? [llama] : [])];
  const checks = [...agents.flatMap((a) => (a.memory ? [a.memory] : [])), ...store, ...bus];
  const status = worst([...targets.map((t) => t.level), ...checks.map((c) => c.level)]);
  return { at, status, targets, checks };
}

/**
 * The report with every detail passed through `redact`: details quote what agents, the sidecar and the store
 * answered, and the report is printed, stored (`saveReport`) and quoted in restart reasons.
 */
export function redactReport(report: HealthReport, redact: (text: string) => string): HealthReport {
  return {
    ...report,
    targets: report.targets.map((t) => ({ ...t, detail: redact(t.detail) })),
    checks: report.checks.map((c) => ({ ...c, detail: redact(c.detail) })),
  };
}

/** Stores the finished report as the last one (best effort: a read-only store was reported already). */
export async function saveReport(store: Store, report: HealthReport): Promise<void> {
  await store.client.batch([{
    sql: `INSERT INTO health_last (id, at, status, report) VALUES (1, ?, ?, ?)
          ON CONFLICT (id) DO UPDATE SET at = excluded.at, status = excluded.status, report = excluded.report`,
    args: [report.at, report.status, JSON.stringify(report)],
  }], "write").catch(() => {});
}
