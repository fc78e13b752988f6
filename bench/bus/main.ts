// `npm run bench -- bus [--quick] [--seconds N] [--runs N] [--only PHASES] [--out PATH]`: the bus
// benchmark. Side by side, in one run, on one file system: the raw ceiling (batched INSERT rows/s with the
// same client), the classic 1 s-poll design, and the bus with producers and consumers in separate processes
// (sustained throughput; hop latency at a fixed 1,000 msg/s; 8 producers + 4 consumers for lock errors), plus
// the CPU of an idle consumer. PHASES: idle,raw,classic,throughput,latency,twelve. `--runs N` repeats
// throughput and latency N times and reports the median run. Prints a table and writes JSON to
// bench/results/bus.json.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { defineBench, readBenchArgs } from "../args.ts";
import { percentile } from "../percentile.ts";

const BUS = defineBench({
  suite: "bus",
  summary: "raw ceiling, classic 1 s poll, and the bus (throughput, hop latency, 8+4 lock errors, idle CPU)",
  options: {
    quick: { type: "boolean", help: "shorter phases (bus phases 10 s, twelve 15 s, idle 10 s)" },
    seconds: { type: "positive", help: "seconds of each throughput and latency run (default 30; 10 with --quick)" },
    runs: { type: "count", help: "throughput and latency runs; the median run is reported (default 1)" },
    only: {
      type: "list",
      of: ["idle", "raw", "classic", "throughput", "latency", "twelve"],
      arg: "PHASE,…",
      help: "phases to run: idle,raw,classic,throughput,latency,twelve (default all)",
    },
    out: { type: "string", arg: "PATH", help: "result file (default bench/results/bus.json)" },
    dir: { type: "string", arg: "DIR", help: "working directory (default .cache/bench-bus)" },
  },
});
const values = readBenchArgs(BUS, process.argv.slice(2));
const runs = values.runs ?? 1;
const quick = values.quick === true;
const busSeconds = values.seconds ?? (quick ? 10 : 30);
const twelveSeconds = quick ? 15 : 60;
const classicSeconds = quick ? 5 : 10;
const outPath = values.out ?? "bench/results/bus.json";
const workDir = resolve(values.dir ?? ".cache/bench-bus");
const only = values.only;
const deno = "node_modules/.bin/deno";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Child {
  proc: ChildProcess;
  done: Promise<string>;
}

function start(script: string, args: (string | number)[]): Child {
  const proc = spawn(deno, ["run", "-A", script, ...args.map(String)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  const done = new Promise<string>((res) => proc.on("exit", () => res(out)));
  return { proc, done };
}

function json<T>(out: string): T {
  const line = out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (!line) throw new Error(`a bench process printed no result: ${out.slice(-300)}`);
  return JSON.parse(line) as T;
}

async function freshDb(name: string) {
  const path = join(workDir, `${name}.db`);
  for (const suffix of ["", "-wal", "-shm"]) await rm(path + suffix, { force: true });
  const store = await openStore({ url: `file:${path}` });
  await migrate(store.client);
  await createSqliteBus(store).subscribe("bench", "bench");
  store.close();
  return path;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/** Raw ceiling: rows/s of batched single-row INSERTs (1,000 per transaction) on this client; also one
 * multi-row statement per transaction (json_each), which is how the bus publishes. */
async function raw() {
  const path = join(workDir, "raw.db");
  for (const suffix of ["", "-wal", "-shm"]) await rm(path + suffix, { force: true });
  const store = await openStore({ url: `file:${path}` });
  const { client } = store;
  await client.execute(
    "CREATE TABLE t (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload TEXT NOT NULL, at INTEGER NOT NULL)",
  );
  const payload = JSON.stringify({ t: 1_700_000_000_000.123 });
  const measure = async (write: () => Promise<unknown>, rowsPer: number) => {
    const t0 = performance.now();
    let rows = 0;
    while (performance.now() - t0 < 3_000) {
      await write();
      rows += rowsPer;
    }
    return rows / ((performance.now() - t0) / 1_000);
  };
  const statements = Array.from({ length: 1_000 }, () => ({
    sql: "INSERT INTO t (topic, payload, at) VALUES (?, ?, ?)",
    args: ["bench", payload, 1],
  }));
  const perStatement = await measure(() => client.batch(statements, "write"), 1_000);
  const array = JSON.stringify(Array.from({ length: 1_000 }, () => ({ p: { t: 1_700_000_000_000.123 } })));
  const multiRow = await measure(
    () =>
      client.batch([{
        sql: "INSERT INTO t (topic, payload, at) SELECT 'bench', j.value -> '$.p', 1 FROM json_each(?) j",
        args: [array],
      }], "write"),
    1_000,
  );
  // Per-call overhead of the client (it re-prepares every statement).
  const n = 5_000;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) await client.execute("SELECT 1");
  const executeUs = ((performance.now() - t0) / n) * 1_000;
  t0 = performance.now();
  for (let i = 0; i < n / 5; i++) {
    await client.batch([{ sql: "UPDATE t SET at = at WHERE id = 1", args: [] }], "write");
  }
  const writeBatchUs = ((performance.now() - t0) / (n / 5)) * 1_000;
  store.close();
  return { perStatement, multiRow, executeUs, writeBatchUs };
}

async function classic() {
  const path = join(workDir, "classic.db");
  for (const suffix of ["", "-wal", "-shm"]) await rm(path + suffix, { force: true });
  json(await start("bench/bus/classic.ts", [path, "setup"]).done.then((o) => o || "{}"));
  const consumers = [
    start("bench/bus/classic.ts", [path, "consumer"]),
    start("bench/bus/classic.ts", [path, "consumer"]),
  ];
  await sleep(300);
  const producer = start("bench/bus/classic.ts", [path, "producer", 100, classicSeconds * 1_000]);
  const { published } = json<{ published: number }>(await producer.done);
  for (const c of consumers) c.proc.kill("SIGTERM");
  const ids = (await Promise.all(consumers.map(async (c) => json<{ ids: number[] }>(await c.done).ids)))
    .flat();
  const distinct = new Set(ids).size;
  return {
    published,
    processed: distinct,
    duplicates: ids.length - distinct,
    msgsPerS: distinct / classicSeconds,
  };
}

interface ConsumerResult {
  handled: number;
  lockErrors: number;
  start: number;
  perSecond: number[];
  latencies: number[];
}
interface ProducerResult {
  published: number;
  calls: number;
  errors: Record<string, number>;
  seconds: number;
}

/** Runs producers and consumers of the bus as separate processes. */
async function busRun(opts: {
  name: string;
  producers: number;
  consumers: number;
  mode: "max" | "rate";
  arg: number;
  seconds: number;
  concurrency: number;
  latency: boolean;
}) {
  const path = await freshDb(opts.name);
  const consumers = Array.from(
    { length: opts.consumers },
    () => start("bench/bus/consumer.ts", [path, opts.concurrency, opts.latency ? "latency" : "none"]),
  );
  await sleep(500);
  const t0 = performance.timeOrigin + performance.now();
  const producers = Array.from(
    { length: opts.producers },
    (_, i) => start("bench/bus/producer.ts", [path, opts.mode, opts.arg, opts.seconds * 1_000, 1_000, i]),
  );
  const produced = await Promise.all(producers.map(async (p) => json<ProducerResult>(await p.done)));
  const t1 = performance.timeOrigin + performance.now();
  // Let the consumers drain what is left (bounded), then stop them.
  const store = await openStore({ url: `file:${path}` });
  const drainEnd = Date.now() + 30_000;
  let backlog = 0;
  for (;;) {
    backlog = Number((await store.client.execute("SELECT count(*) AS n FROM bus_deliveries")).rows[0]!["n"]);
    if (backlog === 0 || Date.now() > drainEnd) break;
    await sleep(100);
  }
  store.close();
  for (const c of consumers) c.proc.kill("SIGTERM");
  const consumed = await Promise.all(consumers.map(async (c) => json<ConsumerResult>(await c.done)));
  // Handled per wall-clock second, summed over consumers, within the producers' run (first 2 s and last 1 s
  // left out as warm-up and tail).
  const buckets = new Map<number, number>();
  for (const c of consumed) {
    c.perSecond.forEach((n, i) => {
      const s = Math.floor(c.start / 1_000) + i;
      buckets.set(s, (buckets.get(s) ?? 0) + n);
    });
  }
  const window: number[] = [];
  for (let s = Math.floor(t0 / 1_000) + 2; s < Math.floor(t1 / 1_000) - 1; s++) {
    window.push(buckets.get(s) ?? 0);
  }
  const latencies = consumed.flatMap((c) => c.latencies).sort((a, b) => a - b);
  const published = produced.reduce((a, p) => a + p.published, 0);
  const handled = consumed.reduce((a, c) => a + c.handled, 0);
  const lockErrors = consumed.reduce((a, c) => a + c.lockErrors, 0) +
    produced.reduce(
      (a, p) =>
        a + Object.entries(p.errors).filter(([k]) => /BUSY|LOCKED/.test(k)).reduce((x, [, v]) => x + v, 0),
      0,
    );
  const otherErrors = produced.reduce((a, p) => a + Object.values(p.errors).reduce((x, v) => x + v, 0), 0) -
    produced.reduce(
      (a, p) =>
        a + Object.entries(p.errors).filter(([k]) => /BUSY|LOCKED/.test(k)).reduce((x, [, v]) => x + v, 0),
      0,
    );
  const sustained = window.length === 0
    ? handled / opts.seconds
    : window.reduce((a, n) => a + n, 0) / window.length;
  return {
    processes: `${opts.producers} producers + ${opts.consumers} consumers`,
    seconds: round((t1 - t0) / 1_000),
    published,
    publishCalls: produced.reduce((a, p) => a + p.calls, 0),
    handled,
    backlogAfterDrain: backlog,
    sustainedMsgsPerS: Math.round(sustained),
    minSecondMsgsPerS: window.length === 0 ? 0 : Math.min(...window),
    lockErrors,
    otherErrors,
    latencyMs: opts.latency
      ? {
        samples: latencies.length,
        p50: round(percentile(latencies, 50), 2),
        p90: round(percentile(latencies, 90), 2),
        p99: round(percentile(latencies, 99), 2),
        max: round(latencies.at(-1) ?? NaN, 1),
      }
      : undefined,
  };
}

/** CPU% of an idle consumer process (woken only by the -wal notification and its 1 s fallback). */
async function idle(seconds: number) {
  const path = await freshDb("idle");
  const consumer = start("bench/bus/consumer.ts", [path, 8, "none"]);
  const ticks = async () => {
    const stat = (await Deno.readTextFile(`/proc/${consumer.proc.pid}/stat`)).split(") ")[1]!.split(" ");
    return Number(stat[11]) + Number(stat[12]); // utime + stime, in clock ticks (100 per second)
  };
  await sleep(2_000); // start-up done
  const t0 = performance.now();
  const c0 = await ticks();
  await sleep(seconds * 1_000);
  const cpuS = (await ticks() - c0) / 100;
  const wallS = (performance.now() - t0) / 1_000;
  const rss = (await Deno.readTextFile(`/proc/${consumer.proc.pid}/status`)).match(/VmRSS:\s+(\d+)/)?.[1];
  consumer.proc.kill("SIGTERM");
  await consumer.done;
  return {
    seconds: round(wallS),
    cpuSeconds: cpuS,
    cpuPercent: round((100 * cpuS) / wallS, 2),
    rssMiB: round(Number(rss) / 1024),
  };
}

await mkdir(workDir, { recursive: true });
const want = (phase: string) => only === undefined || only.includes(phase);
const fsType = (() => {
  try {
    return execFileSync("findmnt", ["-no", "FSTYPE", "-T", workDir]).toString().trim();
  } catch {
    return "unknown";
  }
})();
const machine = {
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? "unknown",
  memoryGiB: round(totalmem() / 2 ** 30),
  runtime: "Deno" in globalThis ? `deno ${Deno.version.deno}` : `node ${process.version}`,
  fileSystem: `${fsType} (${workDir})`,
};
console.log(
  `bus bench on ${machine.cpus} × ${machine.cpu}, ${machine.runtime}, ${machine.fileSystem}${
    quick ? " (quick)" : ""
  }`,
);

const idleResult = want("idle") ? await idle(quick ? 10 : 30) : undefined;
if (idleResult) console.log("idle consumer", idleResult);
const rawResult = want("raw") ? await raw() : undefined;
if (rawResult) console.log("raw", rawResult);
const classicResult = want("classic") ? await classic() : undefined;
if (classicResult) console.log("classic", classicResult);
// Throughput and latency alternate `--runs` times; the reported figure is the median run (by the headline).
type BusRunResult = Awaited<ReturnType<typeof busRun>>;
const throughputRuns: BusRunResult[] = [];
const latencyRuns: BusRunResult[] = [];
for (let i = 0; i < runs; i++) {
  if (want("throughput")) {
    const r = await busRun({
      name: "throughput",
      producers: 2,
      consumers: 2,
      mode: "max",
      arg: 200,
      seconds: busSeconds,
      concurrency: 512,
      latency: false,
    });
    console.log("throughput", r);
    throughputRuns.push(r);
  }
  if (want("latency")) {
    const r = await busRun({
      name: "latency",
      producers: 2,
      consumers: 2,
      mode: "rate",
      arg: 500,
      seconds: busSeconds,
      concurrency: 64,
      latency: true,
    });
    console.log("latency", r);
    latencyRuns.push(r);
  }
}
const median = <T>(list: T[], by: (t: T) => number): T | undefined =>
  [...list].sort((a, b) => by(a) - by(b))[Math.floor((list.length - 1) / 2)];
const throughput = median(throughputRuns, (r) => r.sustainedMsgsPerS);
const latency = median(latencyRuns, (r) => r.latencyMs?.p99 ?? 0);
const twelve = want("twelve")
  ? await busRun({
    name: "twelve",
    producers: 8,
    consumers: 4,
    mode: "rate",
    arg: 250,
    seconds: twelveSeconds,
    concurrency: 64,
    latency: true,
  })
  : undefined;
if (twelve) console.log("twelve", twelve);

const result = {
  suite: "bus",
  date: new Date().toISOString(),
  quick,
  machine,
  throughput_msgs_per_s: throughput?.sustainedMsgsPerS ?? null,
  latency_p50_ms: latency?.latencyMs?.p50 ?? null,
  latency_p99_ms: latency?.latencyMs?.p99 ?? null,
  baseline_msgs_per_s: classicResult ? round(classicResult.msgsPerS, 2) : null,
  raw_insert_rows_per_s: rawResult ? Math.round(rawResult.perStatement) : null,
  raw_insert_multirow_rows_per_s: rawResult ? Math.round(rawResult.multiRow) : null,
  throughput_vs_baseline: throughput && classicResult
    ? Math.round(throughput.sustainedMsgsPerS / classicResult.msgsPerS)
    : null,
  throughput_vs_raw_insert: throughput && rawResult
    ? round(throughput.sustainedMsgsPerS / rawResult.perStatement, 2)
    : null,
  twelve_processes_lock_errors: twelve?.lockErrors ?? null,
  idle_consumer_cpu_percent: idleResult?.cpuPercent ?? null,
  client_execute_us: rawResult ? round(rawResult.executeUs) : null,
  client_write_batch_us: rawResult ? round(rawResult.writeBatchUs) : null,
  targets: {
    throughput_msgs_per_s: 20_000,
    latency_p50_ms: 2,
    latency_p99_ms: 10,
    throughput_vs_baseline: 1_000,
  },
  repeats: runs,
  throughput_runs_msgs_per_s: throughputRuns.map((r) => r.sustainedMsgsPerS),
  latency_runs_ms: latencyRuns.map((r) => ({ p50: r.latencyMs?.p50, p99: r.latencyMs?.p99 })),
  runs: { idle: idleResult, raw: rawResult, classic: classicResult, throughput, latency, twelve },
};
await mkdir(resolve(outPath, ".."), { recursive: true });
await writeFile(outPath, `${JSON.stringify(result, null, 2)}\n`);

const rows: [string, string, string][] = [
  ["raw batched INSERT (1,000 rows/tx, same client)", `${result.raw_insert_rows_per_s ?? "-"} rows/s`, ""],
  [
    "raw multi-row INSERT (json_each, 1,000 rows/tx)",
    `${result.raw_insert_multirow_rows_per_s ?? "-"} rows/s`,
    "",
  ],
  [
    "classic design (1 s poll, LIMIT 10, UPDATE per row)",
    `${result.baseline_msgs_per_s ?? "-"} msg/s`,
    classicResult ? `${classicResult.duplicates} rows taken twice` : "",
  ],
  [
    "bus throughput, 2 producers + 2 consumers",
    `${result.throughput_msgs_per_s ?? "-"} msg/s`,
    `target ≥ 20,000; ×${result.throughput_vs_baseline ?? "-"} classic`,
  ],
  [
    "bus hop latency at 1,000 msg/s (2 + 2)",
    `p50 ${result.latency_p50_ms ?? "-"} ms, p99 ${result.latency_p99_ms ?? "-"} ms`,
    "target p50 ≤ 2, p99 ≤ 10",
  ],
  [
    "bus 8 producers + 4 consumers at 2,000 msg/s",
    `${twelve?.lockErrors ?? "-"} lock errors`,
    twelve?.latencyMs
      ? `p50 ${twelve.latencyMs.p50} ms, p99 ${twelve.latencyMs.p99} ms, ${twelve.seconds} s`
      : "",
  ],
  [
    "idle consumer process",
    `${idleResult?.cpuPercent ?? "-"} % CPU`,
    idleResult ? `${idleResult.rssMiB} MiB RSS, over ${idleResult.seconds} s` : "",
  ],
];
const w0 = Math.max(...rows.map((r) => r[0].length));
const w1 = Math.max(...rows.map((r) => r[1].length));
console.log(
  `\n${rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`).join("\n")}\n\nwrote ${outPath}`,
);
