/**
 * Where an agent's time goes: V8's sampling CPU profiler over the inspector (the agent runs with
 * `--inspect=127.0.0.1:<port>`), each sample put in one category by its stack, and the process's CPU time per
 * thread from /proc.
 *
 * The samples are of the main thread's wall time: a thread blocked in `Atomics.wait` (the writer waiting for
 * SQLite's write lock) or preempted by another process is sampled as if it ran. The per-thread CPU says how much
 * of that time was CPU, and how much the other threads (Tokio's blocking pool: fdatasync; V8's GC helpers; the
 * file watcher) added.
 *
 * @module
 */
import { readdir, readFile } from "node:fs/promises";
import { parseProcStat } from "./measure.ts";

/** The shape of `Profiler.stop`'s result (Chrome DevTools protocol). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
}

export const CATEGORIES = {
  idle: "waiting for I/O in the event loop (Deno's own work on sockets and timers included)",
  lock_wait: "the writer waiting for SQLite's write lock (store/writer.ts begin)",
  sql: "SQLite statements (libSQL)",
  http_client: "fetch: the replies sent to the platforms",
  gc: "V8's garbage collector",
  inspector: "the profiler's own overhead (the inspector reports every fetch)",
  js: "all other JavaScript: webhooks, the bus consumer, routing, validation, metrics",
  runtime: "V8 outside JavaScript (compiling, runtime calls)",
} as const;
export type Category = keyof typeof CATEGORIES;

export interface ProfileSummary {
  samples: number;
  /** Percent of the sampled time per category. */
  pct: Record<Category, number>;
  /**
   * Where our code was: each sample that is not idle counted once, for the innermost function of src/ on its
   * stack (SQL and fetch count for the function of ours that called them); the largest first.
   */
  top: { fn: string; pct: number }[];
}

type Frame = CpuProfile["nodes"][number]["callFrame"];

function categoryOf(stack: Frame[]): Category {
  const leaf = stack[0]!.functionName;
  if (leaf === "(idle)") return "idle";
  if (leaf === "(garbage collector)") return "gc";
  if (leaf === "(program)") return "runtime";
  const any = (test: (f: Frame) => boolean) => stack.some(test);
  if (any((f) => f.functionName === "begin" && f.url.endsWith("/store/writer.ts"))) return "lock_wait";
  if (any((f) => f.url.includes("inspector") || f.functionName.startsWith("op_inspector"))) {
    return "inspector";
  }
  if (any((f) => f.url.includes("/libsql/") || f.functionName.startsWith("libsql_js::"))) return "sql";
  if (any((f) => f.url.includes("deno_fetch") || f.functionName.startsWith("op_fetch"))) return "http_client";
  return "js";
}

/** Puts every sample in a category and ranks our functions (src/) by the samples they were innermost in. */
export function summarizeProfile(profile: CpuProfile, topN = 12): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const counts = new Map<number, number>();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const cat = Object.fromEntries(Object.keys(CATEGORIES).map((k) => [k, 0])) as Record<Category, number>;
  const ours = new Map<string, number>();
  for (const [id, n] of counts) {
    const stack: Frame[] = [];
    for (let node = byId.get(id); node; node = byId.get(parent.get(node.id) ?? -1)) {
      stack.push(node.callFrame);
    }
    const category = categoryOf(stack);
    cat[category] += n;
    const mine = stack.find((f) => f.url.includes("/src/"));
    if (!mine || category === "idle") continue;
    const at = mine.url.slice(mine.url.lastIndexOf("/src/") + 5);
    const fn = `${mine.functionName || "(anonymous)"} ${at}:${mine.lineNumber + 1}`;
    ours.set(fn, (ours.get(fn) ?? 0) + n);
  }
  const pct = (n: number) => (total === 0 ? 0 : Math.round((1000 * n) / total) / 10);
  return {
    samples: total,
    pct: Object.fromEntries(Object.entries(cat).map(([k, n]) => [k, pct(n)])) as Record<Category, number>,
    top: [...ours].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([fn, n]) => ({ fn, pct: pct(n) })),
  };
}

/** Runs V8's sampling profiler of the agent whose inspector listens on `port` for `ms`. */
export async function profileOver(port: number, ms: number, intervalUs = 200): Promise<CpuProfile> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`inspector on port ${port}: connection failed`));
  });
  let id = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown };
    if (m.id !== undefined) pending.get(m.id)?.(m.result), pending.delete(m.id);
  };
  const call = <T>(method: string, params = {}) =>
    new Promise<T>((resolve) => {
      pending.set(++id, resolve as (r: unknown) => void);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call("Profiler.enable");
    await call("Profiler.setSamplingInterval", { interval: intervalUs });
    await call("Profiler.start");
    await new Promise((resolve) => setTimeout(resolve, ms));
    return (await call<{ profile: CpuProfile }>("Profiler.stop")).profile;
  } finally {
    ws.close();
  }
}

/** The name and CPU seconds (user, system) of each thread of a process, by thread id. */
export type ThreadCpu = Map<number, ReturnType<typeof parseProcStat>>;

export async function threadCpu(pid: number): Promise<ThreadCpu> {
  const out: ThreadCpu = new Map();
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    try {
      out.set(Number(tid), parseProcStat(await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8")));
    } catch { /* the thread ended */ }
  }
  return out;
}

/** The distinct nice values of a process's threads (src/ops/priority.ts: every thread should have its agent's). */
export async function threadNices(pid: number): Promise<number[]> {
  return [...new Set([...(await threadCpu(pid)).values()].map((t) => t.nice))].sort((a, b) => a - b);
}

/**
 * Percent of one core the process used between two `threadCpu` snapshots `seconds` apart: the main thread's
 * user and system time, and the other threads' by name (threads that came and went in between are missed).
 */
export function threadShare(
  pid: number,
  before: ThreadCpu,
  after: ThreadCpu,
  seconds: number,
): { main_user: number; main_sys: number; others: Record<string, number> } {
  const pct = (s: number) => Math.round((1000 * s) / seconds) / 10;
  const others: Record<string, number> = {};
  let mainUser = 0;
  let mainSys = 0;
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { user: 0, sys: 0 };
    const [user, sys] = [a.user - b.user, a.sys - b.sys];
    if (tid === pid) [mainUser, mainSys] = [user, sys];
    else if (user + sys > 0) others[a.name] = (others[a.name] ?? 0) + user + sys;
  }
  return {
    main_user: pct(mainUser),
    main_sys: pct(mainSys),
    others: Object.fromEntries(Object.entries(others).map(([k, v]) => [k, pct(v)])),
  };
}
