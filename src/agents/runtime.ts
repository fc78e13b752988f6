/**
 * The agent lifecycle: open the store, migrate, build the agent, serve its HTTP app (GET /health, GET /metrics
 * and the agent's own routes), and stop cleanly: refuse new work with 503 + Retry-After, stop the agent's
 * background work, close the server and the store.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
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
import { agentUnit, probeHost, STOP_TIMEOUT_SEC } from "../ops/mod.ts";
import { cpuTimeMs, isAddressInUse, type Server, type ServeOptions } from "../platform.ts";
import {
  displayDbUrl,
  every,
  filePathOf,
  isStoreUnavailable,
  migrate,
  openStore,
  type Store,
  storeErrorCode,
  storeErrorText,
} from "../store/mod.ts";
import { sleep } from "./channel/sleep.ts";
import { fromThisMachine } from "./client-address.ts";
import type { AgentDefinition, AgentDeps, AgentInstance, CheckResult } from "./define.ts";
import { createCompactions, startTrims } from "./memory.ts";

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
   * Compacts the heap (platform.ts `compactHeap`; see memory.ts): once `compactHeapAfterMs` (default 2,000) after
   * the start, as start-up (config, migrations, compiling the code) leaves 3.5–4.4 MB of garbage that V8 gives back
   * on its own only 15–40 s later; and after a burst, when a trim finds the agent quiet with its RSS 16 MiB or more
   * over its lowest since the last compaction, at most once a minute (`Compactions.look`). Each pauses the agent
   * for tens of ms. Returns false when the runtime cannot. Absent: never.
   */
  compactHeap?: () => boolean;
  compactHeapAfterMs?: number;
  /** CPU time this process has used, in ms (default: platform.ts `cpuTimeMs`): is the agent quiet? */
  cpuTimeMs?: () => number;
  /**
   * Gives malloc's free pages back to the system (platform.ts `trimNativeHeap`) while the agent runs: every
   * `trimNativeHeapEveryMs` (default 250) while trims give something back, less and less often (up to every 8 s)
   * while they do not (memory.ts `nextTrimDelayMs`). Under load the native heap (HTTP buffers, SQLite's) frees MBs that
   * malloc keeps for reuse, counted in the RSS: given back, the largest agent's peak at 1,000 messages/s was 5–13 MB
   * lower in quick runs. Resolves false when the runtime cannot (then never asked again). Absent: never.
   */
  trimNativeHeap?: () => Promise<boolean>;
  trimNativeHeapEveryMs?: number;
  pid: number;
  /** Aborted (SIGTERM) before the agent started: it stops waiting for the store and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Waits between attempts to open an unavailable store: doubling from `minMs` (1 s) up to `maxMs` (30 s). */
  storeRetry?: { minMs: number; maxMs: number };
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

/** Milliseconds a stopping agent waits for a libSQL server: per request, and for its own writes after the handlers'. */
const STOP_STORE_MS = 5_000;

/**
 * Milliseconds a stopping agent waits for its own stop (`AgentInstance.stop`: consumers waiting for their handlers,
 * releasing leases, writing the last outcomes; each request up to STOP_STORE_MS on a libSQL server that hangs, so
 * together unbounded). systemd SIGKILLs the agent TimeoutStopSec after its SIGTERM; after this deadline the runtime's
 * own writes take up to STOP_STORE_MS more, and another STOP_STORE_MS is left for closing the server and the store and
 * the exit on a loaded machine: 20 s. Above the consumers' own stop timeouts (10 s for the channels' sends, 15 s for
 * the orchestrator's turns), so normally they release their leases themselves.
 */
const STOP_AGENT_MS = STOP_TIMEOUT_SEC * 1_000 - 2 * STOP_STORE_MS;

/** Seconds a client should wait before retrying while this agent stops or its store is unavailable. */
export const RETRY_AFTER_S = 5;

/**
 * The answer to a request that failed (`what` says which, for the log): 503 with Retry-After when the store is
 * unavailable (locked, read-only, full), so the platform or the page tries again later; 500 for anything else. A
 * webhook is never answered 2xx without its committed row.
 */
export function failedRequest(c: Context, err: unknown, log: Logger, what: string): Response {
  if (isStoreUnavailable(err)) {
    log.warn(`${what}: store unavailable`, { code: storeErrorCode(err) });
    c.header("Retry-After", String(RETRY_AFTER_S));
    return c.json({ error: "store unavailable, retry later" }, 503);
  }
  log.error(what, { err });
  return c.json({ error: "internal error" }, 500);
}

/**
 * What `pending` resolves to, or "late" when it takes longer than `ms` on a libSQL server (`store.path` undefined):
 * one that stops answering holds a request for the store's remote timeout (60 s), past the health check's deadline,
 * and this agent is not down (a restart would not help), so /health answers in time, degraded.
 */
async function inTime<T>(store: Store, pending: Promise<T>, ms: number): Promise<T | "late"> {
  if (store.path !== undefined) return await pending;
  pending.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), ms)));
    return await Promise.race([pending, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function probeDatabase(store: Store, agent: string, now: number, remoteDeadlineMs: number): Promise<CheckResult> {
  try {
    // A real durable write: a read-only file, a full disk, a lock held past the busy timeout, and a database file
    // deleted or replaced under the agent all fail here.
    const write = store.durableBatch([
      { sql: "UPDATE agent_heartbeats SET seen_at = ? WHERE agent = ?", args: [now, agent] },
    ]);
    if ((await inTime(store, write, remoteDeadlineMs)) === "late") {
      const detail = `database not writable (no answer from the libSQL server within ${remoteDeadlineMs} ms)`;
      return { ok: false, detail };
    }
    return { ok: true };
  } catch (err) {
    return {
      ok: false,
      detail: `database not writable (${storeErrorText(err, store.path === undefined, store.path)})`,
    };
  }
}

/**
 * `pending`, or the signal's reason as soon as it aborts. A libSQL server that takes the connection and never answers
 * holds a request for the store's remote timeout (60 s), past systemd's TimeoutStopSec (30 s): the caller closes the
 * store and leaves the request behind (the process exits).
 */
function untilAborted<T>(pending: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return pending;
  pending.catch(() => {});
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([pending, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

/** Minutes between two log lines of one unchanged reason while the agent waits for its store. */
const WAIT_LOG_EVERY_MS = 5 * 60_000;

/**
 * Opens the store, migrates it and records this agent's start, again and again while the store is unavailable
 * (isStoreUnavailable: a libSQL server down, the file locked past the busy timeout, its directory missing). An agent
 * that exited instead would be restarted by systemd until StartLimitBurst leaves its unit failed, and the store's
 * return would find it gone. `report` gets each failure for /health. A line is logged when the reason changes, else at
 * most every 5 minutes. Anything else (a refused token, a schema too new, a file that is no database) is thrown: no
 * wait mends it.
 */
async function openWhenAvailable(
  opts: RunAgentOptions,
  metrics: Metrics,
  startedAt: number,
  report: (db: CheckResult) => void,
): Promise<Store> {
  const { agent, log, now } = opts;
  const { minMs, maxMs } = opts.storeRetry ?? { minMs: 1_000, maxMs: 30_000 };
  const where = displayDbUrl(opts.dbUrl);
  let logged: { at: number; reason: string } | undefined;
  for (let attempt = 1;; attempt++) {
    let store: Store | undefined;
    try {
      store = await openStore({
        url: opts.dbUrl,
        ...(opts.dbAuthToken ? { authToken: opts.dbAuthToken } : {}),
        observeLock: ({ waitMs, holdMs }) => {
          metrics.observe(M.storeLockWait, waitMs);
          metrics.observe(M.storeLockHold, holdMs);
        },
      });
      // Each request ends at a SIGTERM: a server that hangs would hold it for the remote timeout (untilAborted).
      const migrated = await untilAborted(migrate(store.client, now), opts.signal);
      if (migrated.applied.length > 0) log.info("migrated store", { applied: migrated.applied });
      if (migrated.newer !== undefined) {
        log.warn("the store's schema is newer than this binary (a rollback?): running on it", { schema: migrated.newer });
      }
      await untilAborted(store.client.execute({
        sql: `INSERT INTO agent_heartbeats (agent, pid, version, started_at, seen_at) VALUES (?, ?, ?, ?, ?)
              ON CONFLICT (agent) DO UPDATE SET pid = excluded.pid, version = excluded.version,
                started_at = excluded.started_at, seen_at = excluded.seen_at, stopped_at = NULL`,
        args: [agent.name, opts.pid, opts.version, startedAt, startedAt],
      }), opts.signal);
      if (logged) log.info("store available", { store: where, attempts: attempt });
      return store;
    } catch (err) {
      store?.close();
      // A SIGTERM during an attempt ends the wait as one during the pause does: whatever the attempt's error.
      if (opts.signal?.aborted) throw opts.signal.reason;
      // A file that is no database, or a damaged one, answers webhooks 503 until it is restored; no wait mends it.
      if (!isStoreUnavailable(err) || /^SQLITE_(NOTADB|CORRUPT)/.test(storeErrorCode(err))) throw err;
      const reason = storeErrorText(err, true, filePathOf(opts.dbUrl));
      const waitMs = Math.min(minMs * 2 ** (attempt - 1), maxMs);
      report({ ok: false, detail: `waiting for the store ${where} (${reason}); attempt ${attempt}, next in ${waitMs} ms` });
      if (logged?.reason !== reason || now() - logged.at >= WAIT_LOG_EVERY_MS) {
        log.warn("store unavailable: the agent waits for it", { store: where, reason, attempt, retryInMs: waitMs });
        logged = { at: now(), reason };
      }
      await sleep(waitMs, opts.signal);
    }
  }
}

/** The client-address header the agent's config names for its reverse proxy (web chat, dashboard), if any. */
function proxyHeaderOf(agent: AgentConfig): string | undefined {
  if (agent.kind === "webchat") return agent.webchat.clientAddressHeader;
  if (agent.kind === "analytics") return agent.dashboard?.clientAddressHeader;
  return undefined;
}

/**
 * A /health answer, redacted as a log line is: a check may quote a platform's or the store's error, and a proxy (or a
 * self-hosted Bot API) may echo a token in it.
 */
function redactedJson(c: Context, redact: (text: string) => string, body: unknown, status: 200 | 503): Response {
  return c.body(redact(JSON.stringify(body)), status, { "content-type": "application/json" });
}

/**
 * What the agent's port answers until its store is open: /health 503 with the reason (`aideazz health` reports the
 * agent degraded, not down: a restart would not help), everything else 503 with Retry-After (a webhook comes again).
 */
function startingApp(
  opts: RunAgentOptions,
  startedAt: number,
  db: () => CheckResult,
  redact: (text: string) => string,
): Hono {
  const app = new Hono();
  app.get("/health", (c) =>
    redactedJson(
      c,
      redact,
      fromThisMachine(c, proxyHeaderOf(opts.agent))
        ? {
          status: "starting",
          agent: opts.agent.name,
          kind: opts.agent.kind,
          version: opts.version,
          pid: opts.pid,
          uptimeS: Math.round((opts.now() - startedAt) / 1000),
          rssBytes: opts.rssBytes(),
          db: db(),
          checks: {},
        }
        : { status: "starting" },
      503,
    ));
  app.all("*", (c) => {
    c.header("Retry-After", String(RETRY_AFTER_S));
    return c.json({ error: "agent is starting: its store is not available yet" }, 503);
  });
  return app;
}

/**
 * The error for a port held by this very agent (its unit, and `aideazz agent` or `aideazz up` by hand): its /health
 * there names it. Undefined when something else answers, or nothing: then the port is another process's.
 */
async function alreadyRunning(opts: RunAgentOptions, cause: unknown): Promise<Error | undefined> {
  const { name, host, port } = opts.agent;
  try {
    const res = await opts.fetch(`http://${probeHost(host)}:${port}/health`, { signal: AbortSignal.timeout(2_000) });
    // 503 too: that agent may be starting or degraded, still it runs.
    const body = await res.json() as { agent?: unknown; pid?: unknown };
    if (body.agent !== name) return undefined;
    const pid = typeof body.pid === "number" ? ` (pid ${body.pid})` : "";
    const message = `agent "${name}" already runs on ${host}:${port}${pid}: stop it (systemctl stop ${agentUnit(name)}) first`;
    return new Error(message, { cause });
  } catch {
    return undefined;
  }
}

export async function runAgent(opts: RunAgentOptions): Promise<RunningAgent> {
  const { agent, log, now } = opts;
  const startedAt = now();
  const metrics = createMetrics();
  // The port answers from the start: while the store is unavailable /health says why (startingApp).
  let db: CheckResult = { ok: false, detail: "opening the store" };
  // The secrets, and a token that came in the store's URL (`--db …?authToken=`).
  const redact = createRedactor([...Object.values(opts.secrets), ...(opts.dbAuthToken ? [opts.dbAuthToken] : [])]);
  let handle: ServeOptions["fetch"] = startingApp(opts, startedAt, () => db, redact).fetch;
  let server: Server;
  try {
    server = await opts.serve({ port: agent.port, hostname: agent.host, fetch: (req, info) => handle(req, info) });
  } catch (err) {
    throw (isAddressInUse(err) && await alreadyRunning(opts, err)) || err;
  }
  let store: Store;
  try {
    store = await openWhenAvailable(opts, metrics, startedAt, (failure) => (db = failure));
  } catch (err) {
    await server.close();
    throw err;
  }
  let instance: AgentInstance;
  const retention = retentionOf(opts.config.metrics, opts.config.conversation.retentionDays);
  const tracer = createTracer({ agent: agent.name, now, metrics, redact });
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
      redact,
    };
    // deno-lint-ignore no-explicit-any -- the registry pairs each kind with its own config type
    instance = await opts.definition.create(deps, agent as any);
  } catch (err) {
    store.close();
    await server.close();
    throw err;
  }

  let stopping = false;
  const proxyHeader = proxyHeaderOf(agent);
  const app = new Hono();
  app.use("*", httpMetrics(metrics));
  // Any route's unexpected error is answered and logged as a failed webhook's is (a line of this log, redacted), not
  // as Hono's default does (a plain-text 500, the error on stderr as it is). A middleware's answer thrown as an
  // HTTPException is no failure: the dashboard login's 401 and its challenge, answered as it is.
  app.onError((err, c) =>
    err instanceof HTTPException ? err.getResponse() : failedRequest(c, err, log, `${c.req.method} ${c.req.path} failed`)
  );
  app.use("*", async (c, next) => {
    if (stopping && c.req.path !== "/health") {
      c.header("Retry-After", String(RETRY_AFTER_S));
      return c.json({ error: "agent is stopping" }, 503);
    }
    await next();
  });
  app.get("/health", async (c) => {
    const remoteDeadlineMs = opts.config.ops.health.timeoutMs / 2;
    // The agent's own checks run beside the write, within the same deadline: one may read the store (the analytics
    // agent's), which a libSQL server that hangs would hold as long.
    const agentChecks = async (): Promise<Record<string, CheckResult>> => {
      try {
        const checks = await inTime(store, Promise.resolve(instance.checks?.() ?? {}), remoteDeadlineMs);
        if (checks !== "late") return checks;
        const detail = `check failed (no answer from the libSQL server within ${remoteDeadlineMs} ms)`;
        return { agent: { ok: false, detail } };
      } catch (err) {
        return { agent: { ok: false, detail: `check failed (${storeErrorCode(err)})` } };
      }
    };
    const [db, checks] = await Promise.all([probeDatabase(store, agent.name, now(), remoteDeadlineMs), agentChecks()]);
    const ok = !stopping && db.ok && Object.values(checks).every((r) => r.ok);
    const status = stopping ? "stopping" : ok ? "ok" : "degraded";
    if (!fromThisMachine(c, proxyHeader)) return c.json({ status }, ok ? 200 : 503);
    const body = {
      status,
      agent: agent.name,
      kind: agent.kind,
      version: opts.version,
      pid: opts.pid,
      uptimeS: Math.round((now() - startedAt) / 1000),
      rssBytes: opts.rssBytes(),
      db,
      checks,
    };
    return redactedJson(c, redact, body, ok ? 200 : 503);
  });
  app.get("/metrics", (c) => {
    if (!fromThisMachine(c, proxyHeader)) return c.json({ error: "metrics are served to requests from this machine only" }, 403);
    sampleProcess();
    return c.body(metrics.render(), 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  });
  instance.routes?.(app);

  handle = (req, info) => app.fetch(req, info);
  try {
    await instance.start?.();
    flusher.start();
    tracePurges.start(0);
  } catch (err) {
    store.close();
    await server.close();
    throw err;
  }
  log.info("agent started", { kind: agent.kind, port: server.port, host: agent.host, version: opts.version });
  const compactions = opts.compactHeap && createCompactions({
    compactHeap: opts.compactHeap,
    rssBytes: opts.rssBytes,
    cpuTimeMs: opts.cpuTimeMs ?? cpuTimeMs,
    now,
    log,
  });
  const compaction = compactions && setTimeout(compactions.start, opts.compactHeapAfterMs ?? 2_000);
  const trimOptions = { rssBytes: opts.rssBytes, everyMs: opts.trimNativeHeapEveryMs };
  const trims = opts.trimNativeHeap && startTrims(opts.trimNativeHeap, trimOptions, log, compactions?.look);

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      clearTimeout(compaction);
      compactions?.stop();
      log.info("agent stopping");
      // A libSQL server that hangs would hold each request of the stop (the consumer's poll, the last flush, the stop
      // record) for the remote timeout, past TimeoutStopSec: the leases left are redelivered once they expire.
      store.shortenRemoteTimeout?.(STOP_STORE_MS);
      try {
        const agentStop = Promise.resolve(instance.stop?.());
        if ((await inTime(store, agentStop, STOP_AGENT_MS)) === "late") {
          // Its handlers still running commit nothing once the store is closed below, and the process exits; the
          // leases they hold are no longer extended and expire: the bus hands their messages out again.
          log.warn(
            `the agent's own stop did not finish within ${STOP_AGENT_MS} ms on an unanswering libSQL server: ` +
              "stopping without it; leases still held expire and their messages are redelivered",
          );
        }
      } finally {
        // Deno's server.shutdown() waits for every request in progress, without end: a client that never finishes
        // its body would hold the stop until systemd's SIGKILL. The process exits after this, dropping it.
        const closed = server.close();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), STOP_STORE_MS)));
        if ((await Promise.race([closed, late])) === "late") {
          log.warn(`requests still unfinished ${STOP_STORE_MS} ms after the stop began: stopping without them`);
        }
        clearTimeout(timer);
        const own = (async () => {
          // The last metrics and trace events of this process: a clean stop loses nothing.
          await Promise.all([flusher.stop(), tracePurges.stop(), trims?.stop()]);
          await store.client.execute({
            sql: "UPDATE agent_heartbeats SET stopped_at = ?, seen_at = ? WHERE agent = ? AND pid = ?",
            args: [now(), now(), agent.name, opts.pid],
          }).catch((err) => log.warn("could not record the stop", { code: storeErrorCode(err) }));
          // libSQL closes its handles lazily and the process exits right after this: checkpoint now, so the
          // next start finds an empty WAL instead of replaying it.
          await store.checkpoint().catch((err) => log.warn("checkpoint at stop failed", { code: storeErrorCode(err) }));
        })();
        if ((await inTime(store, own, STOP_STORE_MS)) === "late") {
          log.warn(
            `no answer from the libSQL server within ${STOP_STORE_MS} ms while stopping: ` +
              "the last metrics and trace events and the stop record may be unwritten",
          );
        }
        store.close();
        log.info("agent stopped");
      }
    })();
    return stopped;
  };
  return { port: server.port, store, metrics, tracer, flush: flusher.flush, stop };
}
