/**
 * The agent lifecycle: open the store, migrate, build the agent, serve its HTTP app (GET /health, GET /metrics
 * and the agent's own routes), and stop cleanly: refuse new work with 503 + Retry-After, stop the agent's
 * background work, close the server and the store.
 *
 * @module
 */
import { Hono } from "hono";
import type { AgentConfig, Config } from "../config.ts";
import type { Logger } from "../log.ts";
import {
  createFlushLoop,
  createHeartbeatSource,
  createMetrics,
  createMetricsWriter,
  createProcessSampler,
  type FlushReport,
  httpMetrics,
  M,
  type Metrics,
  PROMETHEUS_CONTENT_TYPE,
  retentionOf,
} from "../metrics/mod.ts";
import { createRedactor } from "../redact.ts";
import { createTracer, purgeTraceEvents, type Tracer } from "../trace/mod.ts";
import type { Server, ServeOptions } from "../platform.ts";
import { every, type Every, migrate, openStore, type Store, storeErrorCode } from "../store/mod.ts";
import type { AgentDefinition, AgentDeps, AgentInstance, CheckResult } from "./define.ts";

export interface RunAgentOptions {
  agent: AgentConfig;
  definition: AgentDefinition;
  config: Config;
  dbUrl: string;
  dbAuthToken?: string;
  secrets: Readonly<Record<string, string>>;
  log: Logger;
  version: string;
  now: () => number;
  fetch: typeof fetch;
  serve: (opts: ServeOptions) => Promise<Server>;
  rssBytes: () => number;
  /**
   * Compacts the heap (platform.ts `compactHeap`). Once `compactHeapAfterMs` (default 2,000) after the start:
   * start-up (config, migrations, compiling the code) leaves 3.5–4.4 MB of garbage that V8 gives back on its own
   * only 15–40 s later. And once after a burst, when the native heap trims find the agent quiet again and its RSS
   * is 16 MiB or more above its lowest since the last compaction (`compactAfterLoad`): after an overload the
   * orchestrator kept a heap of 36 MB (25 MB used) and an RSS of 131 MB; compacted, 109 MB. Each pauses the agent
   * for tens of ms (24–77 ms measured at the start). Returns false when the runtime cannot. Absent: never.
   */
  compactHeap?: () => boolean;
  compactHeapAfterMs?: number;
  /**
   * Gives malloc's free pages back to the system (platform.ts `trimNativeHeap`) while the agent runs: every
   * `trimNativeHeapEveryMs` (default 250) while trims give something back, less and less often (up to every 8 s)
   * while they do not (`nextTrimDelayMs`). Under load the native heap (HTTP buffers, SQLite's) frees MBs that malloc
   * keeps for reuse, counted in the RSS: given back, the largest agent's peak at 1,000 messages/s was 5–13 MB lower
   * in quick runs. Resolves false when the runtime cannot (then never asked again). Absent: never.
   */
  trimNativeHeap?: () => Promise<boolean>;
  trimNativeHeapEveryMs?: number;
  pid: number;
}

export interface RunningAgent {
  readonly port: number;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
  /** Writes buffered metrics and trace events now (the flush loop does it every `metrics.flushIntervalMs`). */
  flush(): Promise<FlushReport>;
  /** Graceful stop; safe to call more than once. */
  stop(): Promise<void>;
}

/** Seconds a client should wait before retrying while this agent stops or its store is unavailable. */
export const RETRY_AFTER_S = 5;

async function probeDatabase(store: Store, agent: string, now: number): Promise<CheckResult> {
  try {
    // A real write: a read-only file, a full disk or a lock held past the busy timeout all fail here.
    await store.client.execute({ sql: "UPDATE agent_heartbeats SET seen_at = ? WHERE agent = ?", args: [now, agent] });
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: `database not writable (${storeErrorCode(err)})` };
  }
}

export async function runAgent(opts: RunAgentOptions): Promise<RunningAgent> {
  const { agent, log, now } = opts;
  const startedAt = now();
  const metrics = createMetrics();
  const store = await openStore({
    url: opts.dbUrl,
    ...(opts.dbAuthToken ? { authToken: opts.dbAuthToken } : {}),
    observeLock: ({ waitMs, holdMs }) => {
      metrics.observe(M.storeLockWait, waitMs);
      metrics.observe(M.storeLockHold, holdMs);
    },
  });
  let instance: AgentInstance;
  const retention = retentionOf(opts.config.metrics, opts.config.conversation.retentionDays);
  const tracer = createTracer({
    agent: agent.name,
    now,
    metrics,
    redact: createRedactor(Object.values(opts.secrets)),
  });
  const sampleProcess = createProcessSampler({ metrics, rssBytes: opts.rssBytes, now, startedAt });
  // This process's metrics and trace events, written each interval in batched transactions, and trace events
  // also whenever 400 are waiting (started with the server).
  const flusher = createFlushLoop({
    client: store.client,
    sources: [
      createMetricsWriter({ metrics, agent: agent.name, retention }),
      tracer.source,
      createHeartbeatSource(agent.name),
    ],
    intervalMs: opts.config.metrics.flushIntervalMs,
    now,
    beforeFlush: sampleProcess,
    metrics,
    log,
  });
  // At start and then once a minute every agent deletes the expired trace events, a chunk at a time; stop() ends a
  // pass after its current chunk and waits for it before closing the store.
  const tracePurges = every(60_000, (signal) =>
    purgeTraceEvents(store.client, {
      cutoff: now() - retention.traceMs,
      maxStoredEvents: retention.traceMaxEvents,
      signal,
    }).catch((err) => log.warn("trace retention failed", { code: storeErrorCode(err) })));
  metrics.inc(M.agentStarts);
  try {
    const migrated = await migrate(store.client, now);
    if (migrated.applied.length > 0) log.info("migrated store", { applied: migrated.applied });
    await store.client.execute({
      sql: `INSERT INTO agent_heartbeats (agent, pid, version, started_at, seen_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (agent) DO UPDATE SET pid = excluded.pid, version = excluded.version,
              started_at = excluded.started_at, seen_at = excluded.seen_at, stopped_at = NULL`,
      args: [agent.name, opts.pid, opts.version, startedAt, startedAt],
    });
    const deps: AgentDeps = {
      store,
      log,
      metrics,
      tracer,
      config: opts.config,
      now,
      fetch: opts.fetch,
      version: opts.version,
      secrets: opts.secrets,
    };
    // deno-lint-ignore no-explicit-any -- the registry pairs each kind with its own config type
    instance = await opts.definition.create(deps, agent as any);
  } catch (err) {
    store.close();
    throw err;
  }

  let stopping = false;
  const app = new Hono();
  app.use("*", httpMetrics(metrics));
  app.use("*", async (c, next) => {
    if (stopping && c.req.path !== "/health") {
      c.header("Retry-After", String(RETRY_AFTER_S));
      return c.json({ error: "agent is stopping" }, 503);
    }
    await next();
  });
  app.get("/health", async (c) => {
    const db = await probeDatabase(store, agent.name, now());
    let checks: Record<string, CheckResult> = {};
    try {
      checks = (await instance.checks?.()) ?? {};
    } catch (err) {
      checks = { agent: { ok: false, detail: `check failed (${storeErrorCode(err)})` } };
    }
    const ok = !stopping && db.ok && Object.values(checks).every((r) => r.ok);
    const body = {
      status: stopping ? "stopping" : ok ? "ok" : "degraded",
      agent: agent.name,
      kind: agent.kind,
      version: opts.version,
      pid: opts.pid,
      uptimeS: Math.round((now() - startedAt) / 1000),
      rssBytes: opts.rssBytes(),
      db,
      checks,
    };
    return c.json(body, ok ? 200 : 503);
  });
  app.get("/metrics", (c) => {
    sampleProcess();
    return c.body(metrics.render(), 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  });
  instance.routes?.(app);

  let server: Server;
  try {
    server = await opts.serve({ port: agent.port, hostname: agent.host, fetch: app.fetch });
    await instance.start?.();
    flusher.start();
    tracePurges.start(0);
  } catch (err) {
    store.close();
    throw err;
  }
  log.info("agent started", { kind: agent.kind, port: server.port, host: agent.host, version: opts.version });
  const { compactHeap } = opts;
  /** One compaction, logged; false when the runtime cannot compact or it failed (the trims then stop asking). */
  const compact = compactHeap && ((reason: "start" | "after load") => {
    const rssBefore = opts.rssBytes();
    const started = now();
    const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
    try {
      if (!compactHeap()) return false;
      log.info("heap compacted", {
        reason,
        ms: now() - started,
        rssMbBefore: mb(rssBefore),
        rssMbAfter: mb(opts.rssBytes()),
      });
      return true;
    } catch (err) {
      log.warn("heap compaction failed", { err }); // only memory is at stake: never the agent
      return false;
    }
  });
  const compaction = compact && setTimeout(() => compact("start"), opts.compactHeapAfterMs ?? 2_000);
  const trims = opts.trimNativeHeap && startTrims(opts.trimNativeHeap, opts, log, compact);

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      clearTimeout(compaction);
      log.info("agent stopping");
      try {
        await instance.stop?.();
      } finally {
        await server.close();
        // The last metrics and trace events of this process: a clean stop loses nothing.
        await Promise.all([flusher.stop(), tracePurges.stop(), trims?.stop()]);
        await store.client.execute({
          sql: "UPDATE agent_heartbeats SET stopped_at = ?, seen_at = ? WHERE agent = ? AND pid = ?",
          args: [now(), now(), agent.name, opts.pid],
        }).catch((err) => log.warn("could not record the stop", { code: storeErrorCode(err) }));
        // libSQL closes its handles lazily and the process exits right after this: checkpoint now, so the
        // next start finds an empty WAL instead of replaying it.
        await store.checkpoint().catch((err) => log.warn("checkpoint at stop failed", { code: storeErrorCode(err) }));
        store.close();
        log.info("agent stopped");
      }
    })();
    return stopped;
  };
  return { port: server.port, store, metrics, tracer, flush: flusher.flush, stop };
}

/** A trim that gave back less than this is a sign of an idle agent. */
const TRIM_WORTH_BYTES = 256 * 1024;
/** How long trims may wait at most while they give nothing back. */
const TRIM_IDLE_MS = 8_000;
/** Growth of the RSS, over its lowest since the last compaction, that a compaction after load waits for. */
const GROWN_BYTES = 16 * 2 ** 20;

/**
 * The wait before the next native heap trim: `everyMs` after one that gave back ≥ 256 KiB, else twice the last wait,
 * up to 8 s (an idle agent wakes for its trims once every 8 s, not 4 times a second).
 * @example nextTrimDelayMs(250, 250, 0) // 500
 */
export function nextTrimDelayMs(lastMs: number, everyMs: number, givenBackBytes: number): number {
  if (givenBackBytes >= TRIM_WORTH_BYTES) return everyMs;
  return Math.max(everyMs, Math.min(lastMs * 2, TRIM_IDLE_MS));
}

/**
 * Whether to compact the heap now, after a burst: the agent is quiet (three trims in a row gave back little, so the
 * next waits 8 × `everyMs`) and its RSS is ≥ 16 MiB above its lowest since the last compaction. A compaction that
 * gives nothing back is not repeated: the lowest starts again from the RSS after it.
 * @example compactAfterLoad(2_000, 250, 131 * 2 ** 20, 75 * 2 ** 20) // true
 */
export function compactAfterLoad(delayMs: number, everyMs: number, rssBytes: number, lowestRssBytes: number): boolean {
  return delayMs >= 8 * everyMs && rssBytes - lowestRssBytes >= GROWN_BYTES;
}

/**
 * The native heap trims of a running agent (RunAgentOptions.trimNativeHeap); says once whether they run. When the
 * agent is quiet again after a burst, they call `compact` (`compactAfterLoad`), until it returns false.
 */
function startTrims(
  trim: () => Promise<boolean>,
  opts: Pick<RunAgentOptions, "rssBytes" | "trimNativeHeapEveryMs">,
  log: Logger,
  compact?: (reason: "after load") => boolean,
): Every {
  const everyMs = opts.trimNativeHeapEveryMs ?? 250;
  let delayMs = everyMs;
  let first = true;
  let lowest = opts.rssBytes();
  const trims = every(() => delayMs, async () => {
    const before = opts.rssBytes();
    let available: boolean;
    try {
      available = await trim();
    } catch (err) {
      log.warn("native heap trim failed", { err }); // once: the trims end here
      return void trims.stop();
    }
    if (first) log.info("native heap trims", { available });
    first = false;
    if (!available) return void trims.stop();
    const after = opts.rssBytes();
    delayMs = nextTrimDelayMs(delayMs, everyMs, before - after);
    lowest = Math.min(lowest, after);
    if (compact && compactAfterLoad(delayMs, everyMs, after, lowest)) {
      if (!compact("after load")) compact = undefined;
      lowest = opts.rssBytes();
    }
  });
  trims.start();
  return trims;
}
