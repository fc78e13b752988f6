// `npm run bench -- router [--calls N] [--runs N] [--memory] [--out PATH]`: the router's own overhead per turn, excluding provider
// time. The providers are in-process and answer at once; each call's provider time is measured inside the
// provider and subtracted. Scenarios: a priced provider with a quota (budget reserve + settle, quota take + settle:
// four writes, the headline), a free provider with a quota (quota take + settle), and one fallback (a failed
// attempt at a provider without limits, then the free provider).
// Store: a WAL file on local disk, as in production (`--memory`: an in-memory database, for comparison). Each
// scenario runs `--runs` times (interleaved); the headline is the median over runs (PERFORMANCE.md: shared VMs
// drift). Prints a table and writes bench/results/router.json.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { createBreaker } from "../../src/router/breaker.ts";
import { type ChainEntry, createModelRouter, type ModelRouter } from "../../src/router/chain.ts";
import { resolveRouterSettings, routerSchema } from "../../src/router/config.ts";
import { ProviderError } from "../../src/router/errors.ts";
import { createBulkhead } from "../../src/router/providers/bulkhead.ts";
import type { ChatProvider } from "../../src/router/providers/types.ts";
import { sleep } from "../../src/router/retry.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { defineBench, readBenchArgs } from "../args.ts";
import { percentile } from "../percentile.ts";
import { benchCache } from "./cache.ts";

const ROUTER = defineBench({
  suite: "router",
  summary: "the router's own overhead per turn, excluding provider time",
  options: {
    calls: { type: "count", help: "calls per scenario and run (default 20000)" },
    runs: { type: "count", help: "interleaved runs of each scenario; the median is reported (default 3)" },
    memory: { type: "boolean", help: "an in-memory database instead of a WAL file, for comparison" },
    out: { type: "string", arg: "PATH", help: "result file (default bench/results/router.json)" },
    dir: { type: "string", arg: "DIR", help: "working directory (default .cache/bench-router)" },
  },
});
const values = readBenchArgs(ROUTER, process.argv.slice(2));
const calls = values.calls ?? 20_000;
const runs = values.runs ?? 3;
const warmup = Math.min(2_000, Math.floor(calls / 10));
const outPath = values.out ?? "bench/results/router.json";
const workDir = resolve(values.dir ?? ".cache/bench-router");

let providerMs = 0;
function instant(name: string, fail = false): ChatProvider {
  return {
    name,
    kind: "openai-compatible",
    chat(req) {
      const t0 = performance.now();
      if (fail) {
        providerMs += performance.now() - t0;
        return Promise.reject(new ProviderError({ provider: name, kind: "server", status: 500 }));
      }
      const res = {
        text: "ok",
        usage: { inputTokens: 40, outputTokens: 20 },
        model: req.model,
        provider: name,
        finishReason: "stop" as const,
      };
      providerMs += performance.now() - t0;
      return Promise.resolve(res);
    },
  };
}

const config = {
  providers: {
    free: {
      kind: "openai-compatible",
      baseUrl: "http://127.0.0.1:9/v1",
      model: "free-model",
      limits: { requestsPerMinute: 1e9, tokensPerMinute: 1e12 },
    },
    paid: {
      kind: "anthropic",
      baseUrl: "http://127.0.0.1:9/v1",
      model: "paid-model",
      apiKeyEnv: "ANTHROPIC_API_KEY", // never read: the entries below stand in for the providers
      limits: { requestsPerMinute: 1e9, tokensPerMinute: 1e12 },
    },
    down: { kind: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1", model: "down-model" },
  },
  tiers: { simple: ["free"], complex: ["down", "free"], "high-value": ["paid"] },
  budget: {
    dailyUsd: 1e9,
    monthlyUsd: 1e9,
    prices: { "paid-model": { inputUsdPerMTok: 3, outputUsdPerMTok: 15 } },
  },
  retry: { maxAttempts: 1 },
  breaker: { failureThreshold: 1e9 },
};

function entry(name: string, model: string, fail = false): ChainEntry {
  return {
    name,
    provider: instant(name, fail),
    model,
    timeoutMs: 3_000,
    breaker: createBreaker({ failureThreshold: 1e9, windowMs: 60_000, cooldownMs: 30_000, now: Date.now }),
    bulkhead: createBulkhead(64),
  };
}

const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;

async function measure(router: ModelRouter, tier: "simple" | "complex" | "high-value") {
  const req = {
    tier,
    request: {
      messages: [{ role: "system" as const, content: "You are helpful." }, {
        role: "user" as const,
        content: "What are your opening hours?",
      }],
      maxTokens: 300,
    },
  };
  for (let i = 0; i < warmup; i++) await router.route(req);
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    providerMs = 0;
    const t0 = performance.now();
    await router.route(req);
    samples.push(performance.now() - t0 - providerMs);
  }
  samples.sort((a, b) => a - b);
  return {
    calls,
    p50_ms: round(percentile(samples, 50)),
    p90_ms: round(percentile(samples, 90)),
    p99_ms: round(percentile(samples, 99)),
    max_ms: round(samples.at(-1) ?? NaN),
    mean_ms: round(samples.reduce((a, b) => a + b, 0) / samples.length),
  };
}

await mkdir(workDir, { recursive: true });
const dbPath = join(workDir, "router.db");
for (const suffix of ["", "-wal", "-shm"]) await rm(dbPath + suffix, { force: true });
const store = await openStore({ url: values.memory ? "file::memory:" : `file:${dbPath}` });
await migrate(store.client);
const router = await createModelRouter(resolveRouterSettings(routerSchema.parse(config)), {
  client: store.client,
  fetch,
  env: {},
  now: Date.now,
  random: Math.random,
  sleep,
  entries: new Map([
    ["free", entry("free", "free-model")],
    ["paid", entry("paid", "paid-model")],
    ["down", entry("down", "down-model", true)],
  ]),
});

type Tier = "simple" | "complex" | "high-value";
const names: Record<string, Tier> = {
  priced_provider: "high-value",
  free_provider_with_quota: "simple",
  one_fallback: "complex",
};
const perRun: Record<string, Awaited<ReturnType<typeof measure>>[]> = {};
for (let r = 0; r < runs; r++) {
  for (const [name, tier] of Object.entries(names)) (perRun[name] ??= []).push(await measure(router, tier));
}
store.close();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const scenarios = Object.fromEntries(
  Object.entries(perRun).map(([name, rs]) => [name, {
    calls_per_run: calls,
    runs: rs.length,
    p50_ms: median(rs.map((x) => x.p50_ms)),
    p90_ms: median(rs.map((x) => x.p90_ms)),
    p99_ms: median(rs.map((x) => x.p99_ms)),
    max_ms: Math.max(...rs.map((x) => x.max_ms)),
    per_run: rs,
  }]),
);

const cache = await benchCache(workDir);
const head = scenarios["priced_provider"]!;
const result = {
  suite: "router",
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    runtime: "Deno" in globalThis ? `deno ${process.versions["deno"] ?? ""}` : `node ${process.version}`,
    store: values.memory ? "libSQL in memory" : "libSQL file, WAL, synchronous=NORMAL",
    loadavg: (await readFile("/proc/loadavg", "utf8").catch(() => "")).trim(),
  },
  what:
    "per-turn router overhead excluding provider time: chain walk, breaker, bulkhead, timers, quota take+settle, " +
    "budget reserve+settle (headline: the priced-provider scenario, which does all of them)",
  overhead_p50_ms: head.p50_ms,
  overhead_p99_ms: head.p99_ms,
  targets: { overhead_p50_ms: 0.5, overhead_p99_ms: 3 },
  scenarios,
  cache,
};
await mkdir(resolve(outPath, ".."), { recursive: true });
await writeFile(outPath, JSON.stringify(result, null, 2) + "\n");

console.log(
  `router overhead per turn (excluding provider time), median of ${runs} runs × ${calls} calls, ${result.machine.runtime}, ${result.machine.cpus} CPUs, load ${result.machine.loadavg}`,
);
console.log("scenario                    p50 ms   p90 ms   p99 ms   max ms");
for (const [name, s] of Object.entries(scenarios)) {
  console.log(
    `${name.padEnd(26)} ${String(s.p50_ms).padStart(7)}  ${String(s.p90_ms).padStart(7)}  ${
      String(s.p99_ms).padStart(7)
    }  ${String(s.max_ms).padStart(7)}`,
  );
}
console.log(
  `targets: p50 ≤ 0.5 ms, p99 ≤ 3 ms → overhead_p50_ms ${result.overhead_p50_ms}, overhead_p99_ms ${result.overhead_p99_ms}`,
);
console.log("cache lookups (embedding time excluded)   p50 ms   p99 ms");
for (const l of cache.lookups) {
  console.log(`exact, ${l.entries} entries`.padEnd(40) + `${String(l.exact.p50_ms).padStart(7)}  ${String(l.exact.p99_ms).padStart(7)}`);
  console.log(
    `exact+lexical+semantic, ${l.entries} entries`.padEnd(40) +
      `${String(l.exact_lexical_semantic.p50_ms).padStart(7)}  ${String(l.exact_lexical_semantic.p99_ms).padStart(7)}`,
  );
}
const { idle, burst } = cache.orchestrator_turn_cache_hit;
console.log(`orchestrator turn on a cache hit, inbound publish → reply on the bus: idle p50 ${idle.p50_ms} ms, p99 ${idle.p99_ms} ms (${idle.n} turns)`);
console.log(`  burst of ${burst.turns} turns: ${burst.turns_per_s} turns/s, latency p50 ${burst.p50_ms} ms, p99 ${burst.p99_ms} ms`);
console.log(`wrote ${outPath}`);
