/** Shared pieces of the supervision tests: configs, fixture agents, a supervisor with captured output, the bus. */
import { writeFile } from "node:fs/promises";
import { createSqliteBus } from "../../src/bus/mod.ts";
import type { Bus } from "../../src/bus/mod.ts";
import { createLogger } from "../../src/log.ts";
import { type ChildSpec, createSupervisor, readVmRss, type Supervisor } from "../../src/ops/mod.ts";
import { spawn } from "../../src/platform.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { V8_FLAGS_ARG } from "../../src/v8-flags.ts";
import { denoBin, mainTs, repoRoot } from "../support/cli.ts";

export const fixtureTs = `${repoRoot}test/ops/fixtures/agent.ts`;

export interface AgentEntry {
  name: string;
  port: number;
  kind?: string;
  limits?: Record<string, unknown>;
}

export async function writeConfig(
  path: string,
  agents: AgentEntry[],
  dbUrl: string,
  ops: Record<string, unknown> = {},
): Promise<void> {
  await writeFile(
    path,
    JSON.stringify({ store: { url: dbUrl }, agents: agents.map((a) => ({ kind: "analytics", ...a })), ops }),
  );
}

export const baseEnv = {
  PATH: process.env["PATH"] ?? "",
  HOME: process.env["HOME"] ?? "/root",
  NO_COLOR: "1",
};

/** A real `aideazz agent <name>` under Deno, with the V8 flags the binary bakes in. */
export function agentSpec(name: string, config: string): ChildSpec {
  return {
    name,
    unit: `aideazz-agent@${name}.service`,
    command: denoBin,
    args: ["run", "-A", V8_FLAGS_ARG, mainTs, "agent", name, "--config", config],
  };
}

/** The bus fixture agent (test/ops/fixtures/agent.ts) under Deno. */
export function fixtureSpec(
  mode: "bus" | "leak-once",
  name: string,
  config: string,
  memoryMaxBytes?: number,
): ChildSpec {
  return {
    name,
    unit: `aideazz-agent@${name}.service`,
    command: denoBin,
    args: ["run", "-A", fixtureTs, mode, name, config],
    ...(memoryMaxBytes ? { memoryMaxBytes } : {}),
  };
}

export interface Supervised {
  supervisor: Supervisor;
  /** up's own log lines, parsed. */
  events: Record<string, unknown>[];
  output(): string;
}

export function supervise(
  specs: ChildSpec[],
  opts: {
    minMs?: number;
    maxMs?: number;
    perHour?: number;
    stopTimeoutMs?: number;
    memoryPollMs?: number;
    env?: Record<string, string>;
  } = {},
): Supervised {
  const events: Record<string, unknown>[] = [];
  let out = "";
  const supervisor = createSupervisor(specs, {
    policy: {
      minIntervalMs: opts.minMs ?? 200,
      maxIntervalMs: opts.maxMs ?? 2_000,
      maxPerHour: opts.perHour ?? 20,
    },
    stopTimeoutMs: opts.stopTimeoutMs ?? 15_000,
    memoryPollMs: opts.memoryPollMs ?? 0,
  }, {
    spawn,
    env: { ...baseEnv, ...opts.env },
    now: Date.now,
    readRss: readVmRss,
    log: createLogger({ agent: "up", secrets: [], write: (l) => events.push(JSON.parse(l)) }),
    write: (t) => (out += t),
  });
  return { supervisor, events, output: () => out };
}

/** Polls until `fn` returns a value (not undefined/false) or throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET /health: its JSON and status, or undefined when nothing answers within 2 s. */
export async function health(
  port: number,
): Promise<{ status: number; body: { pid?: number; status?: string } } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
    return { status: res.status, body: await res.json() };
  } catch {
    return undefined;
  }
}

export interface TestBus {
  store: Store;
  bus: Bus;
  close(): Promise<void>;
}

export async function openBus(dbUrl: string): Promise<TestBus> {
  const store = await openStore({ url: dbUrl });
  await migrate(store.client);
  await store.client.batch([`CREATE TABLE IF NOT EXISTS ops_test_done (
    msg_id INTEGER NOT NULL, agent TEXT NOT NULL, sent_at INTEGER NOT NULL, done_at INTEGER NOT NULL,
    deliveries INTEGER NOT NULL, attempt INTEGER NOT NULL, PRIMARY KEY (msg_id, agent)) STRICT`], "write");
  const bus = createSqliteBus(store, { wake: { watch: false } });
  return {
    store,
    bus,
    close: async () => {
      await bus.close();
      store.close();
    },
  };
}

export interface DoneRow {
  msgId: number;
  agent: string;
  sentAt: number;
  doneAt: number;
  deliveries: number;
  attempt: number;
}

export async function doneRows(store: Store, agent?: string): Promise<DoneRow[]> {
  const rs = await store.client.execute({
    sql: "SELECT * FROM ops_test_done WHERE ?1 IS NULL OR agent = ?1 ORDER BY msg_id",
    args: [agent ?? null],
  });
  return rs.rows.map((r) => ({
    msgId: Number(r["msg_id"]),
    agent: String(r["agent"]),
    sentAt: Number(r["sent_at"]),
    doneAt: Number(r["done_at"]),
    deliveries: Number(r["deliveries"]),
    attempt: Number(r["attempt"]),
  }));
}

/** Rows of `bus_deliveries` currently leased (state 1), optionally by one consumer id prefix. */
export async function leasedRows(store: Store, consumerPrefix?: string): Promise<number> {
  const rs = await store.client.execute({
    sql:
      "SELECT count(*) AS n FROM bus_deliveries WHERE state = 1 AND (?1 IS NULL OR consumer LIKE ?1 || '%')",
    args: [consumerPrefix ?? null],
  });
  return Number(rs.rows[0]?.["n"] ?? 0);
}
