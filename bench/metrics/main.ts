// `npm run bench -- metrics [--seconds N] [--runs N] [--rate N] [--interval MS] [--trace-events N] [--out PATH]`
//
// What the metrics flush costs at 100 msg/s. One process records, for every message, every signal the catalogue
// defines (channel, bus, router, cache, provider, tokens, cost, HTTP: ~60 series — more than any one agent
// has) and, in the "+ traces" variant, `--trace-events` trace events per message. The production flush loop
// writes them every `--interval` ms (default 5 s) to a WAL file on local disk. Three measurements per run:
//   - flush CPU: process CPU time spent inside the flushes / wall time (% of one core; target < 1%);
//   - flush wall time per flush (p50, max);
//   - the process's total CPU with flushing vs the same load without it (interleaved runs, medians).
// Prints a table and writes bench/results/metrics.json.
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import {
  createFlushLoop,
  createMetrics,
  createMetricsWriter,
  DEFAULT_METRICS_CONFIG,
  type FlushLoop,
  type FlushSource,
  M,
  type Metrics,
  retentionOf,
} from "../../src/metrics/mod.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { createTracer, newTraceId, type TraceStage } from "../../src/trace/mod.ts";
import { defineBench, readBenchArgs } from "../args.ts";

const METRICS = defineBench({
  suite: "metrics",
  summary: "CPU cost of the batched metrics (and trace) flush at a steady message rate",
  options: {
    seconds: { type: "positive", help: "seconds per run (default 20)" },
    runs: { type: "count", help: "interleaved runs of each variant; medians are reported (default 3)" },
    rate: { type: "positive", help: "messages per second (default 100)" },
    interval: {
      type: "positive",
      arg: "MS",
      help: `flush interval in milliseconds (default ${DEFAULT_METRICS_CONFIG.flushIntervalMs})`,
    },
    "trace-events": { type: "whole", help: "trace events per message in the \"+ traces\" variant (default 9)" },
    out: { type: "string", arg: "PATH", help: "result file (default bench/results/metrics.json)" },
    dir: { type: "string", arg: "DIR", help: "working directory (default .cache/bench-metrics)" },
  },
});
const values = readBenchArgs(METRICS, process.argv.slice(2));
const seconds = values.seconds ?? 20;
const runs = values.runs ?? 3;
const rate = values.rate ?? 100;
const intervalMs = values.interval ?? DEFAULT_METRICS_CONFIG.flushIntervalMs;
const traceEventsPerMsg = values["trace-events"] ?? 9;
const outPath = values.out ?? "bench/results/metrics.json";
const workDir = resolve(values.dir ?? ".cache/bench-metrics");

let seed = 7;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const CHANNELS = ["telegram", "whatsapp", "webchat"] as const;
const PROVIDERS = [["groq", "llama-3.1-8b-instant"], ["claude", "claude-haiku"], [
  "local",
  "qwen2.5-0.5b",
]] as const;
const STAGES: TraceStage[] = [
  "received",
  "stored",
  "claimed",
  "cache",
  "route",
  "provider",
  "reply_queued",
  "sent",
  "retry",
];

/** Everything one inbound message makes the system record. */
function recordMessage(m: Metrics): void {
  const channel = pick(CHANNELS);
  m.inc(M.messagesIn, { channel });
  m.observe(M.ackLatency, 2 + random() * 30, { channel });
  m.inc(M.httpRequests, { method: "POST", route: `/${channel}/webhook`, status: "200" });
  m.observe(M.httpDuration, 1 + random() * 10, { method: "POST", route: `/${channel}/webhook` });
  m.observe(M.busHop, random() * 20, { topic: "inbound", group: "orchestrator" });
  m.inc(M.busHandled, { topic: "inbound", group: "orchestrator", outcome: "ack" });
  const hit = random() < 0.6;
  m.inc(M.cacheLookups, { result: hit ? "hit" : "miss" });
  if (hit) {
    m.inc(M.routerDecisions, { tier: "simple", provider: "cache", outcome: "ok" });
  } else {
    const [provider, model] = pick(PROVIDERS);
    const tier = pick(["simple", "complex", "high-value"] as const);
    m.inc(M.routerDecisions, { tier, provider, outcome: "ok" });
    m.inc(M.providerRequests, { provider, model, outcome: random() < 0.05 ? "429" : "ok" });
    m.observe(M.providerLatency, 200 + random() * 2_000, { provider, model });
    m.inc(M.tokens, { provider, model, direction: "input" }, 400);
    m.inc(M.tokens, { provider, model, direction: "output" }, 150);
    if (provider === "claude") m.inc(M.cost, { provider, model }, 0.001);
    m.set(M.quotaHeadroom, random(), { provider, model, window: "rpm" });
  }
  m.inc(M.messagesOut, { channel });
  m.observe(M.replyLatency, 100 + random() * 3_000, { channel });
  m.inc(M.busHandled, { topic: `outbound.${channel}`, group: channel, outcome: "ack" });
  m.observe(M.busHop, random() * 20, { topic: `outbound.${channel}`, group: channel });
  if (random() < 0.01) m.inc(M.sendErrors, { platform: channel, code: "429" });
  if (random() < 0.01) m.inc(M.duplicatesSuppressed, { stage: "ingress" });
}

interface RunResult {
  cpuPct: number;
  flushCpuPct: number;
  flushes: number;
  flushWallP50Ms: number;
  flushWallMaxMs: number;
  statementsPerFlush: number;
  series: number;
  traceEvents: number;
  dbBytes: number;
}

async function run(name: string, flushing: boolean, traces: boolean): Promise<RunResult> {
  const dir = join(workDir, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const store: Store = await openStore({ url: `file:${join(dir, "bench.db")}` });
  await migrate(store.client);
  const metrics = createMetrics();
  const tracer = createTracer({ agent: "bench", now: Date.now, maxBuffered: 1e7 });
  const sources: FlushSource[] = [
    createMetricsWriter({ metrics, agent: "bench", retention: retentionOf(DEFAULT_METRICS_CONFIG) }),
  ];
  if (traces) sources.push(tracer.source);
  const loop: FlushLoop = createFlushLoop({ client: store.client, sources, intervalMs, now: Date.now });
  metrics.set(M.rss, process.memoryUsage.rss());

  let flushCpuUs = 0;
  const walls: number[] = [];
  let statements = 0;
  const flushOnce = async () => {
    const c0 = process.cpuUsage();
    const report = await loop.flush();
    const c = process.cpuUsage(c0);
    flushCpuUs += c.user + c.system;
    walls.push(report.durationMs);
    statements += report.statements;
    if (!report.ok) throw new Error(`flush failed: ${report.error}`);
  };

  // Warm up (first flush creates series and families), then measure.
  for (let i = 0; i < rate; i++) recordMessage(metrics);
  await flushOnce();
  flushCpuUs = 0;
  walls.length = 0;
  statements = 0;

  let traceEvents = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const tickMs = 10;
  let sent = 0;
  let nextFlush = t0 + intervalMs;
  await new Promise<void>((done) => {
    const tick = async () => {
      const elapsed = performance.now() - t0;
      // Catch up to the rate exactly (timers drift).
      const due = Math.floor((elapsed / 1_000) * rate);
      for (; sent < due; sent++) {
        recordMessage(metrics);
        if (traces) {
          const id = newTraceId();
          for (let k = 0; k < traceEventsPerMsg; k++) {
            tracer.event(id, STAGES[k % STAGES.length]!, { n: k, provider: "groq" });
          }
          traceEvents += traceEventsPerMsg;
        }
      }
      if (flushing && performance.now() >= nextFlush) {
        nextFlush += intervalMs;
        await flushOnce();
      }
      if (elapsed >= seconds * 1_000) return done();
      setTimeout(tick, tickMs);
    };
    setTimeout(tick, tickMs);
  });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (flushing) await flushOnce();
  const dbBytes = (await stat(join(dir, "bench.db")).catch(() => ({ size: 0 }))).size +
    (await stat(join(dir, "bench.db-wal")).catch(() => ({ size: 0 }))).size;
  store.close();
  const sorted = [...walls].sort((a, b) => a - b);
  return {
    cpuPct: ((cpu.user + cpu.system) / 1_000 / wallMs) * 100,
    flushCpuPct: (flushCpuUs / 1_000 / wallMs) * 100,
    flushes: walls.length,
    flushWallP50Ms: sorted[Math.floor(sorted.length / 2)] ?? 0,
    flushWallMaxMs: sorted.at(-1) ?? 0,
    statementsPerFlush: walls.length ? statements / walls.length : 0,
    series: metrics.snapshot().length,
    traceEvents,
    dbBytes,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const r3 = (n: number) => Math.round(n * 1_000) / 1_000;

console.log(
  `metrics flush bench: ${rate} msg/s, flush every ${intervalMs} ms, ${seconds} s per run, ${runs} runs (interleaved)`,
);
const variants = [
  { key: "no_flush", flushing: false, traces: false, label: "recording only (no flush)" },
  { key: "metrics", flushing: true, traces: false, label: "metrics flush" },
  {
    key: "metrics_and_traces",
    flushing: true,
    traces: true,
    label: `metrics + ${traceEventsPerMsg} trace events/msg`,
  },
] as const;
const results: Record<string, RunResult[]> = Object.fromEntries(variants.map((v) => [v.key, []]));
for (let r = 0; r < runs; r++) {
  for (const v of variants) {
    const res = await run(`${v.key}-${r}`, v.flushing, v.traces);
    results[v.key]!.push(res);
    console.log(
      `  run ${r + 1} ${v.label}: process CPU ${res.cpuPct.toFixed(2)}%, in flushes ${
        res.flushCpuPct.toFixed(3)
      }%`,
    );
  }
}

const summary = Object.fromEntries(variants.map((v) => {
  const rs = results[v.key]!;
  return [v.key, {
    what: v.label,
    process_cpu_pct: r3(median(rs.map((x) => x.cpuPct))),
    flush_cpu_pct: r3(median(rs.map((x) => x.flushCpuPct))),
    flush_wall_p50_ms: r3(median(rs.map((x) => x.flushWallP50Ms))),
    flush_wall_max_ms: r3(Math.max(...rs.map((x) => x.flushWallMaxMs))),
    statements_per_flush: r3(median(rs.map((x) => x.statementsPerFlush))),
    series: median(rs.map((x) => x.series)),
    trace_events: median(rs.map((x) => x.traceEvents)),
    db_bytes_after_run: median(rs.map((x) => x.dbBytes)),
  }];
}));
const base = summary["no_flush"]!.process_cpu_pct;
const rows = variants.map((v) => {
  const s = summary[v.key]!;
  return [
    v.label,
    `${s.process_cpu_pct.toFixed(2)}%`,
    v.flushing ? `${s.flush_cpu_pct.toFixed(3)}%` : "—",
    v.flushing ? `${(s.process_cpu_pct - base).toFixed(2)}%` : "—",
    v.flushing ? `${s.flush_wall_p50_ms.toFixed(1)} / ${s.flush_wall_max_ms.toFixed(1)}` : "—",
    v.flushing ? String(s.statements_per_flush) : "—",
    String(s.series),
  ];
});
const header = [
  "variant (medians)",
  "process CPU",
  "in flushes",
  "vs no flush",
  "flush ms p50/max",
  "stmts/flush",
  "series",
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
console.log("");
for (const line of [header, ...rows]) {
  console.log(line.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
}

const verdict = summary["metrics"]!.flush_cpu_pct < 1;
console.log(
  `\ntarget: metrics flush < 1% of one core at ${rate} msg/s → ${verdict ? "met" : "NOT met"} (${
    summary["metrics"]!.flush_cpu_pct
  }%)`,
);

const cpu = cpus();
await mkdir(resolve(outPath, ".."), { recursive: true });
await writeFile(
  outPath,
  JSON.stringify(
    {
      suite: "metrics",
      date: new Date().toISOString(),
      machine: {
        cpus: cpu.length,
        cpu: cpu[0]?.model ?? "?",
        memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
        runtime: "Deno" in globalThis ? `deno ${Deno.version.deno}` : `node ${process.version}`,
        store: "libSQL file, WAL, synchronous=NORMAL",
      },
      what: "CPU cost of the batched metrics (and trace) flush at a steady message rate; % are of one core",
      params: {
        rate_msg_s: rate,
        flush_interval_ms: intervalMs,
        seconds_per_run: seconds,
        runs,
        trace_events_per_msg: traceEventsPerMsg,
      },
      headline: { metrics_flush_cpu_pct: summary["metrics"]!.flush_cpu_pct, target_pct: 1, met: verdict },
      variants: summary,
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${outPath}`);
