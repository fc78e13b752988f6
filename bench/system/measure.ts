/**
 * Measuring helpers of the system benchmark: percentiles, per-process CPU time and memory from /proc, the
 * load generator as a child process, and matching the replies the fake platforms received to the requests the
 * load generator sent (one fresh chat per request, so the chat id names the request).
 *
 * @module
 */
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { M } from "../../src/metrics/names.ts";
import { quantileFromBuckets } from "../../src/metrics/quantile.ts";
import { percentile } from "../percentile.ts";
import type { FakeGraph } from "../../test/fakes/graph.ts";
import type { FakeTelegram } from "../../test/fakes/telegram.ts";
import { parsePrometheusText } from "../../test/metrics/support/prom-parser.ts";
import { denoBin, readMemory, repoRoot } from "./cluster.ts";
import type { LoadPlan, LoadResult } from "./load.ts";

export interface Dist {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export const round = (n: number, d = 1) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : NaN);

export function dist(values: number[]): Dist {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50), 1), p99: round(percentile(s, 99), 1), max: round(s.at(-1) ?? NaN, 1) };
}

/** The name, CPU seconds and nice value of a process or thread, from the text of its /proc/…/stat. */
export function parseProcStat(
  stat: string,
): { name: string; user: number; sys: number; children: number; nice: number } {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[0] is field 3 (state)
  return {
    name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
    user: Number(fields[11]) / 100, // utime, stime in clock ticks (CLK_TCK = 100)
    sys: Number(fields[12]) / 100,
    children: (Number(fields[13]) + Number(fields[14])) / 100, // cutime + cstime: children waited for
    nice: Number(fields[16]),
  };
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const { user, sys } = parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
    return user + sys;
  } catch {
    return undefined;
  }
}

/** Busy and total CPU time of the whole machine in seconds (/proc/stat), to tell our load from others'. */
export async function machineCpuSeconds(): Promise<{ busy: number; total: number }> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: (total - v[3]! - v[4]!) / 100, total: total / 100 };
}

/** The agents a sampler watches: a `Cluster` or, in tests, any named processes. */
export interface Sampled {
  readonly agents: ReadonlyMap<string, { readonly name: string; pid(): number | undefined }>;
}

/**
 * Each agent's peak memory per step. VmRSS read every `ms` misses a V8 heap that grows and shrinks between two
 * reads, so `reset()` also resets the kernel's VmHWM (writing 5 to /proc/<pid>/clear_refs, allowed for our own
 * children) and `peak()` is the larger of the samples and VmHWM since then — VmHWM only of a process that is the
 * same since the reset (a restarted agent's VmHWM covers its start-up, not the step). `highest()` is the most each
 * agent reached while sampled, over every step and after it exited (the VmHWM of each reset stitched together).
 */
export function startRssSampler(cluster: Sampled, ms = 500) {
  const peak = new Map<string, number>();
  const highest = new Map<string, number>();
  /** The pid whose VmHWM was reset, per agent. */
  const cleared = new Map<string, number>();
  const raise = (m: Map<string, number>, name: string, mb: number) => m.set(name, Math.max(m.get(name) ?? 0, mb));
  const read = async (name: string, pid: number | undefined) => {
    const mem = pid === undefined ? undefined : await readMemory(pid);
    if (mem) raise(highest, name, Math.max(mem.rssMb, mem.hwmMb));
    return mem;
  };
  const timer = setInterval(async () => {
    for (const a of cluster.agents.values()) {
      const mem = await read(a.name, a.pid());
      if (mem) raise(peak, a.name, mem.rssMb);
    }
  }, ms);
  return {
    peak: async () => {
      const out = new Map(peak);
      for (const a of cluster.agents.values()) {
        const pid = a.pid();
        const mem = pid !== undefined && cleared.get(a.name) === pid ? await read(a.name, pid) : undefined;
        if (mem) raise(out, a.name, Math.max(mem.rssMb, mem.hwmMb));
      }
      return out;
    },
    reset: async () => {
      peak.clear();
      cleared.clear();
      for (const a of cluster.agents.values()) {
        const pid = a.pid();
        if (pid === undefined) continue;
        await read(a.name, pid); // the VmHWM about to be reset still counts in highest()
        try {
          await writeFile(`/proc/${pid}/clear_refs`, "5");
          cleared.set(a.name, pid);
        } catch {
          // Not ours or gone: its VmHWM covers more than the step, so only the samples count.
        }
      }
    },
    highest: () => new Map(highest),
    stop: () => clearInterval(timer),
  };
}

/** Runs the load generator process on `plan`; resolves with its result. */
export async function runLoad(plan: LoadPlan, planPath: string): Promise<LoadResult> {
  await writeFile(planPath, JSON.stringify(plan));
  const child = spawn(denoBin, ["run", "-A", `${repoRoot}bench/system/load.ts`, planPath], {
    cwd: repoRoot,
    stdio: ["ignore", "inherit", "inherit"],
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`load generator exited ${code}`);
  return JSON.parse(await readFile(plan.out, "utf8")) as LoadResult;
}

export interface Reply {
  chat: number;
  at: number;
}

/** Reads replies the fakes received since the last call (a cursor per fake). */
export function createReplyReader(fakes: { telegram: Iterable<FakeTelegram>; graph: Iterable<FakeGraph> }) {
  const cursors = new Map<FakeTelegram | FakeGraph, number>();
  return (): Reply[] => {
    const out: Reply[] = [];
    for (const fake of fakes.telegram) {
      const from = cursors.get(fake) ?? 0;
      for (let i = from; i < fake.sent.length; i++) out.push({ chat: Number(fake.sent[i]!.chatId), at: fake.sent[i]!.at });
      cursors.set(fake, fake.sent.length);
    }
    for (const fake of fakes.graph) {
      const from = cursors.get(fake) ?? 0;
      for (let i = from; i < fake.sent.length; i++) out.push({ chat: Number(fake.sent[i]!.to), at: fake.sent[i]!.at });
      cursors.set(fake, fake.sent.length);
    }
    return out;
  };
}

/** A histogram as `/metrics` renders it: finite upper bounds, cumulative counts (the last is +Inf) and the sum. */
interface Histogram {
  bounds: number[];
  cumulative: number[];
  sum: number;
}

/** An agent's write-lock histograms (`aideazz_store_lock_wait_ms`, `…_hold_ms`) read from its `/metrics`. */
export interface LockHistograms {
  wait: Histogram;
  hold: Histogram;
}

export async function scrapeLocks(port: number): Promise<LockHistograms | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const families = parsePrometheusText(await res.text());
    const histogram = (name: string): Histogram => {
      const samples = families.get(name)?.samples ?? [];
      const buckets = samples.filter((s) => s.name === `${name}_bucket`);
      return {
        bounds: buckets.map((s) => Number(s.labels["le"])).filter(Number.isFinite),
        cumulative: buckets.map((s) => s.value),
        sum: samples.find((s) => s.name === `${name}_sum`)?.value ?? 0,
      };
    };
    return { wait: histogram(M.storeLockWait), hold: histogram(M.storeLockHold) };
  } catch {
    return undefined; // the agent is not answering: no figures for it
  }
}

export interface LockUse {
  transactions: number;
  /** Share of the time the agent held the lock: every other agent's writes waited meanwhile. */
  held_pct: number;
  hold_p99_ms: number;
  wait_p99_ms: number;
}

/**
 * What an agent did with the write lock between two scrapes `seconds` apart; undefined when the histograms
 * cannot be compared (the agent restarted in between, or its buckets changed).
 */
export function lockUse(before: LockHistograms, after: LockHistograms, seconds: number): LockUse | undefined {
  /** Observations per bucket between the scrapes; undefined when they cannot be compared. */
  const counts = (a: Histogram, b: Histogram) => {
    if (b.cumulative.length > 0 && b.bounds.join() !== a.bounds.join()) return undefined;
    const c = a.cumulative.map((n, i) => n - (b.cumulative[i] ?? 0)).map((n, i, all) => n - (i > 0 ? all[i - 1]! : 0));
    return c.some((n) => n < 0) ? undefined : c;
  };
  const hold = counts(after.hold, before.hold);
  const wait = counts(after.wait, before.wait);
  if (!hold || !wait) return undefined;
  const p99 = (h: Histogram, c: number[]) => round(quantileFromBuckets(h.bounds, c, 0.99) ?? NaN, 2);
  return {
    transactions: hold.reduce((a, b) => a + b, 0),
    held_pct: round(((after.hold.sum - before.hold.sum) / (seconds * 1000)) * 100, 1),
    hold_p99_ms: p99(after.hold, hold),
    wait_p99_ms: p99(after.wait, wait),
  };
}
