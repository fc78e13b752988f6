// `npm run bench -- system [--quick] [--seconds N] [--steps R,R,…] [--model-steps R,…] [--twelve-steps R,…]
//   [--classic-steps R,…] [--defaults-steps R,…] [--v8-steps R,…] [--no-llama]
//   [--profile-rate R] [--skip twelve,classic,bound,model,floor,defaults,profile,v8] [--out PATH] [--dir DIR] [--help]`
//
// The whole system on one machine: every agent its own `aideazz agent` process under Deno on one database,
// fake Telegram (a Bot API server per bot) / Graph (per number) / Groq / Anthropic servers and the real
// llama.cpp sidecar (tiny model, last in every chain). A load generator process (wrk, bench/system/load.ts)
// posts real platform payloads — Telegram updates with the secret header, WhatsApp notifications signed with
// the app secret — at increasing offered loads, one fresh chat per request. Per step: webhook ack p50/p99,
// reply latency (webhook POST → the reply arriving at the fake platform) p50/p99 per kind of answer,
// replies/s, errors, CPU and peak RSS per agent. Phases:
//   1. 6 agents (2 Telegram webhook, 2 WhatsApp, orchestrator, analytics): idle RSS; cache warm-up; the hit
//      workload (FAQ and cache questions alternating) at each `--steps` rate; the model workload (fake Groq and
//      Claude answering in 300–800 ms) at each `--model-steps` rate, plus one step where both fail and the
//      real llama.cpp sidecar answers; the bound probe (ingress alone with the orchestrator stopped, then the
//      orchestrator draining that backlog alone); loaded RSS (peak VmRSS, VmHWM).
//   2. 12 agents (5 + 5 channels): idle RSS and the hit workload at `--twelve-steps`.
//   (1b. When this version has conversation-experience settings, phases 1 and 2 turn them off — burst coalescing
//   makes every turn wait for a quiet chat, Telegram streaming edits messages, which the fake Bot API cannot — and
//   6 agents with the DEFAULTS run the hit workload at `--defaults-steps`, to show what the defaults cost.)
//   3. The classic design's parameters (bench/system/classic.ts: 1 s poll, LIMIT 10, UPDATE per row) under the
//      same load generator: the throughput and latency ratios.
//   4. The memory floor: bare Deno, Deno + libSQL store, + all agent code loaded (bench/system/floor.ts).
//   4b. V8's defaults: every phase runs the agents with the production V8 flags (src/v8-flags.ts: small young
//      generation, slower heap growth, `gc` for one compaction after the start); 6 agents WITHOUT any of them
//      (so without the compaction too) at `--v8-steps` show what the flags cost and save.
//   5. Where the time goes: 6 agents again, tg1 and the orchestrator under V8's sampling profiler (over the
//      inspector) during one hit step at `--profile-rate` (default 250/s): each sample's category (SQL, waiting
//      for the write lock, fetch, GC, other JavaScript, idle), which of our functions was innermost, and the CPU
//      per thread (bench/system/profile.ts); the raw profiles are kept as `<dir>/profile/<agent>.cpuprofile`.
// Platform pacing is RAISED for the benchmark (perChatMs/perUserMs 0, perSecond 100,000) and the fakes enforce
// no send limits: the real platforms cap a bot at ~30 msg/s and ~1 msg/s per chat (WhatsApp ~1 per 6 s per
// user), which would be the only thing measured otherwise. Each request is a new chat (many customers asking
// a first question), which is also what makes the cache eligible: only context-free turns use it.
import { V8_FLAGS, V8_FLAGS_ARG } from "../../src/v8-flags.ts";
import { spawn } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { openStore } from "../../src/store/mod.ts";
import { startFakeTelegram } from "../../test/fakes/telegram.ts";
import {
  type Cluster,
  denoBin,
  experienceConfigurable,
  experienceOff,
  pickPort,
  readMemory,
  readPssMb,
  repoRoot,
  runToEnd,
  startCluster,
} from "./cluster.ts";
import type { LoadPlan, LoadTarget } from "./load.ts";
import {
  CATEGORIES,
  profileOver,
  type ProfileSummary,
  summarizeProfile,
  threadCpu,
  threadNices,
  threadShare,
} from "./profile.ts";
import {
  cpuSeconds,
  createReplyReader,
  dist,
  type Dist,
  type LockHistograms,
  lockUse,
  machineCpuSeconds,
  type Reply,
  round,
  runLoad,
  scrapeLocks,
  startRssSampler,
} from "./measure.ts";
import { parseSystemArgs, SYSTEM_USAGE } from "./args.ts";
import { ackStats, classicReplyRatio, headlineStep, loadedRss, type StepResult } from "./summary.ts";
import { BENCH_FAQ, CACHE_QUESTIONS, type Category, hitQuestions, modelQuestions } from "./workload.ts";

const args = parseSystemArgs(process.argv.slice(2));
if ("help" in args) {
  console.log(SYSTEM_USAGE);
  process.exit(0);
}
if ("error" in args) {
  console.error(`system bench: ${args.error}\n(npm run bench -- system --help for the options)`);
  process.exit(2);
}
const { quick, seconds, hitSteps, modelSteps, twelveSteps, classicSteps, defaultsSteps, v8Steps, skip } = args;
const outPath = args.out;
const workDir = resolve(args.dir);
const useLlama = args.llama;
const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const telegramFixture = JSON.parse(await readFile(`${repoRoot}test/fixtures/telegram/text.json`, "utf8"));

let nextBase = 1;
/** Chat ids and update ids / wamids unique over the whole run. */
const bases = () => {
  const b = nextBase++;
  return { chatBase: 10_000_000_000 + b * 10_000_000, idBase: b * 10_000_000 };
};

interface Work {
  questions: string[];
  categories: Category[];
}

interface StepContext {
  agents: number;
  targets(rate: number, questions: string[]): LoadTarget[];
  pids(): Map<string, number | undefined>;
  readReplies(): Reply[];
  /** The agents' write-lock histograms from their `/metrics`. */
  locks?(): Promise<Map<string, LockHistograms | undefined>>;
  sampler?: ReturnType<typeof startRssSampler>;
  dbPath?: string;
}

function clusterContext(cluster: Cluster): StepContext {
  return {
    agents: cluster.agents.size,
    targets: (rate, questions) => channelTargets(cluster, rate, questions),
    pids: () => new Map([...cluster.agents.values()].map((a) => [a.name, a.pid()])),
    readReplies: createReplyReader({ telegram: [...cluster.telegram.values()], graph: [...cluster.graph.values()] }),
    locks: async () =>
      new Map(await Promise.all([...cluster.agents.values()].map(async (a) => [a.name, await scrapeLocks(a.port)] as const))),
    sampler: startRssSampler(cluster),
    dbPath: cluster.dbPath,
  };
}

function channelTargets(cluster: Cluster, rate: number, questions: string[]): LoadTarget[] {
  const channels = [...cluster.agents.values()].filter((a) => a.kind === "telegram" || a.kind === "whatsapp");
  return channels.map((a, i) => {
    const share = Math.round((rate * (i + 1)) / channels.length) - Math.round((rate * i) / channels.length);
    const n = Number(a.name.slice(2));
    return {
      name: a.name,
      kind: a.kind as "telegram" | "whatsapp",
      url: `http://127.0.0.1:${a.port}/${a.kind}/webhook`,
      rate: share,
      secret: a.kind === "telegram" ? cluster.secrets[`TG${n}_SECRET`]! : cluster.secrets[`WA${n}_APP_SECRET`]!,
      ...(a.kind === "whatsapp" ? { phoneNumberId: cluster.phoneNumberIds.get(a.name)! } : {}),
      ...bases(),
      questions,
    };
  });
}

/** How the orchestrator answered since `since` (router_decisions.tier: faq, cache:exact, simple, …). */
async function decisions(dbPath: string | undefined, since: number): Promise<Record<string, number>> {
  if (!dbPath) return {};
  const store = await openStore({ url: `file:${dbPath}` });
  try {
    const rs = await store.client.execute({
      sql: "SELECT tier, count(*) AS n FROM router_decisions WHERE at >= ? GROUP BY tier ORDER BY tier",
      args: [Math.floor(since)],
    });
    return Object.fromEntries(rs.rows.map((r) => [String(r["tier"]), Number(r["n"])]));
  } finally {
    store.close();
  }
}

async function cpuOf(pids: Map<string, number | undefined>) {
  return new Map(await Promise.all([...pids].map(async ([n, p]) => [n, await cpuSeconds(p)] as const)));
}

/** One load step: offer `rate` req/s for `secs` s, wait for the replies (bounded by `drainMs`), measure. */
async function step(ctx: StepContext, label: string, rate: number, secs: number, work: Work, drainMs: number): Promise<StepResult> {
  ctx.readReplies(); // skip anything earlier
  await ctx.sampler?.reset();
  const pids = ctx.pids();
  const locks0 = await ctx.locks?.();
  const cpu0 = await cpuOf(pids);
  const m0 = await machineCpuSeconds();
  const self0 = process.cpuUsage();
  const wall0 = Date.now();
  const t0 = clock();
  const plan: LoadPlan = {
    targets: ctx.targets(rate, work.questions),
    seconds: secs,
    out: join(workDir, `load.out.json`),
    telegramFixture,
  };
  const load = await runLoad(plan, join(workDir, `load.plan.json`));
  const sends = new Map<number, { cat: Category; at: number }>();
  let firstSend = Infinity;
  let lastSend = 0;
  for (const t of load.targets) {
    for (const [chat, q, at] of t.sends) {
      sends.set(chat, { cat: work.categories[q]!, at });
      firstSend = Math.min(firstSend, at);
      lastSend = Math.max(lastSend, at);
    }
  }
  const got: { cat: Category; ms: number; at: number }[] = [];
  const seen = new Set<number>();
  const take = () => {
    for (const r of ctx.readReplies()) {
      const s = sends.get(r.chat);
      if (!s || seen.has(r.chat)) continue;
      seen.add(r.chat);
      got.push({ cat: s.cat, ms: r.at - s.at, at: r.at });
    }
  };
  const drainEnd = Date.now() + drainMs;
  for (take(); seen.size < sends.size && Date.now() < drainEnd; take()) await sleep(200);
  const cpu1 = await cpuOf(pids);
  const m1 = await machineCpuSeconds();
  const self = process.cpuUsage(self0);
  const elapsed = (clock() - t0) / 1000;
  const locks1 = await ctx.locks?.();
  const write_lock: StepResult["write_lock"] = {};
  for (const [n, before] of locks0 ?? []) {
    const after = locks1?.get(n);
    const use = before && after ? lockUse(before, after, elapsed) : undefined;
    if (use) write_lock[n] = use;
  }
  const used: Record<string, number> = {};
  for (const [n, c0] of cpu0) {
    const c1 = cpu1.get(n);
    if (c0 !== undefined && c1 !== undefined) used[n] = c1 - c0;
  }
  used["load-generator"] = load.cpuS;
  used["bench+fakes"] = (self.user + self.system) / 1e6;
  const ours = Object.values(used).reduce((a, b) => a + b, 0);
  used["other"] = Math.max(0, m1.busy - m0.busy - ours);
  const cpu_pct = Object.fromEntries(Object.entries(used).map(([n, s]) => [n, round((s / elapsed) * 100, 0)]));
  // Steady state: replies that arrived while the load was offered, after its first second.
  const windowS = (lastSend - firstSend - 1000) / 1000;
  const inWindow = got.filter((g) => g.at >= firstSend + 1000 && g.at <= lastSend).length;
  const { acks, ok, errors, unanswered, socket_errors, timeouts } = ackStats(load);
  const byCat: Partial<Record<Category | "all", Dist>> = { all: dist(got.map((g) => g.ms)) };
  for (const c of new Set(work.categories)) byCat[c] = dist(got.filter((g) => g.cat === c).map((g) => g.ms));
  const lastReply = Math.max(0, ...got.map((g) => g.at));
  return {
    agents: ctx.agents,
    workload: label,
    offered_per_s: rate,
    seconds: secs,
    sent: sends.size,
    unsent: load.targets.reduce((a, t) => a + t.planned - t.sends.length, 0),
    late_ms: dist(load.targets.flatMap((t) => t.lateMs)),
    ack_2xx: ok,
    errors,
    unanswered,
    socket_errors,
    timeouts,
    missing_replies: sends.size - seen.size,
    ack_ms: dist(acks),
    reply_ms: byCat,
    replies_per_s: windowS > 0 ? round(inWindow / windowS, 0) : round(got.length / secs, 0),
    drain_s: round(Math.max(0, lastReply - lastSend) / 1000, 1),
    answered_by: await decisions(ctx.dbPath, wall0),
    cpu_pct,
    cpu_ms_per_reply: Object.fromEntries(
      Object.entries(used).filter(([n]) => n !== "other").map(([n, s]) => [n, round((s * 1000) / Math.max(1, got.length), 2)]),
    ),
    rss_peak_mb: Object.fromEntries([...(await ctx.sampler?.peak() ?? [])].map(([n, v]) => [n, round(v, 1)])),
    write_lock,
  };
}

function printStep(s: StepResult) {
  const r = (d: Dist | undefined) => (d && d.n > 0 ? `${d.p50}/${d.p99}` : "-");
  const cpu = Object.entries(s.cpu_pct).filter(([, v]) => v >= 5).map(([n, v]) => `${n} ${v}`).join(", ");
  const perReply = Object.values(s.cpu_ms_per_reply).reduce((a, b) => a + b, 0);
  console.log(
    `${String(s.agents).padStart(2)} ${s.workload.padEnd(7)} ${String(s.offered_per_s).padStart(5)}/s ${String(s.sent).padStart(6)} sent | ack ${
      r(s.ack_ms).padStart(11)
    } ms | reply faq ${r(s.reply_ms.faq).padStart(11)} cache ${r(s.reply_ms.cache).padStart(11)} model ${
      r(s.reply_ms.model).padStart(11)
    } ms | ${String(s.replies_per_s).padStart(5)} replies/s | err ${s.errors}${s.unanswered > 0 ? ` (${s.unanswered} unanswered)` : ""} missing ${s.missing_replies} drain ${s.drain_s} s | cpu% ${cpu} | ${round(perReply, 2)} cpu-ms/reply`,
  );
  // The generator fell behind: requests never sent, or sent late (each thread waits for its previous answer).
  if (s.unsent > 0 || s.late_ms.p99 > 10) {
    console.log(`   generator behind: ${s.unsent} never sent, sent late p50/p99 ${s.late_ms.p50}/${s.late_ms.p99} ms`);
  }
  const locks = Object.entries(s.write_lock).filter(([, l]) => l.transactions > 0);
  if (locks.length > 0) {
    const each = locks.map(([n, l]) => `${n} ${l.held_pct} (${l.hold_p99_ms}/${l.wait_p99_ms})`);
    console.log(`   write lock held % (hold p99 / wait p99 ms): ${each.join(", ")}`);
  }
}

async function memoryOf(cluster: Cluster): Promise<Record<string, { rss_mb: number; hwm_mb: number; pss_mb: number }>> {
  const out: Record<string, { rss_mb: number; hwm_mb: number; pss_mb: number }> = {};
  for (const a of cluster.agents.values()) {
    const pid = a.pid();
    const m = pid === undefined ? undefined : await readMemory(pid);
    const pss = pid === undefined ? undefined : await readPssMb(pid);
    if (m) out[a.name] = { rss_mb: round(m.rssMb), hwm_mb: round(m.hwmMb), pss_mb: round(pss ?? NaN) };
  }
  return out;
}

/** Sends each cache question once (fresh chats, one at a time, a distinct model answer each) so it is cached. */
async function warmCache(cluster: Cluster, readReplies: () => Reply[]) {
  const tg = cluster.agents.get("tg1")!;
  const { chatBase, idBase } = bases();
  for (const [i, q] of CACHE_QUESTIONS.entries()) {
    const text = `Cached answer ${i}: yes, we can help with that.`;
    cluster.groq.setDefault({ kind: "ok", text });
    cluster.anthropic.setDefault({ kind: "ok", text });
    const chat = chatBase + i;
    const update = structuredClone(telegramFixture);
    update.update_id = idBase + i;
    Object.assign(update.message, { chat: { id: chat, type: "private" }, from: { id: chat, is_bot: false, first_name: "W" } });
    Object.assign(update.message, { date: Math.floor(Date.now() / 1000), text: q });
    const res = await fetch(`http://127.0.0.1:${tg.port}/telegram/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": cluster.secrets["TG1_SECRET"]! },
      body: JSON.stringify(update),
    });
    await res.body?.cancel();
    const end = Date.now() + 20_000;
    while (!readReplies().some((r) => r.chat === chat) && Date.now() < end) await sleep(20);
  }
  const store = await openStore({ url: `file:${cluster.dbPath}` });
  const rs = await store.client.execute("SELECT count(*) AS n FROM cache_entries");
  store.close();
  return Number(rs.rows[0]!["n"]);
}

/** Model latency 300–800 ms per request: a getter, because the fakes read `delayMs` on each request. */
function realisticLatency(cluster: Cluster) {
  const mode = (text: string) => ({ kind: "ok" as const, text, get delayMs() { return 300 + Math.random() * 500; } });
  cluster.groq.setDefault(mode("Your order is on its way."));
  cluster.anthropic.setDefault(mode("It was delayed by the carrier; it ships today."));
}

/**
 * What bounds throughput: with the orchestrator stopped, the channels take a backlog alone (ingress ack latency
 * and rate at a high offered load); then the orchestrator starts and drains it alone (turns/s from
 * router_decisions, replies/s at the fakes).
 */
async function boundProbe(cluster: Cluster, ctx: StepContext) {
  console.log("-- bound probe: ingress alone (orchestrator stopped), then the orchestrator draining that backlog alone");
  await cluster.stop("orchestrator");
  ctx.readReplies();
  const work = hitQuestions();
  const rate = quick ? 1_000 : 2_000;
  const secs = quick ? 2 : 3;
  const pids = ctx.pids();
  const cpu0 = await cpuOf(pids);
  const t0 = clock();
  const load = await runLoad({
    targets: ctx.targets(rate, work.questions),
    seconds: secs,
    out: join(workDir, "bound.out.json"),
    telegramFixture,
  }, join(workDir, "bound.plan.json"));
  const cpu1 = await cpuOf(pids);
  const sends = load.targets.flatMap((t) => t.sends);
  const span = (Math.max(...sends.map((s) => s[2])) - Math.min(...sends.map((s) => s[2]))) / 1000;
  const { acks, ok, errors, unanswered } = ackStats(load);
  const channelCpu = [...pids.keys()].filter((n) => /^(tg|wa)/.test(n))
    .map((n) => `${n} ${round((((cpu1.get(n) ?? 0) - (cpu0.get(n) ?? 0)) / ((clock() - t0) / 1000)) * 100, 0)}%`).join(", ");
  const ingress = { offered_per_s: rate, sent: sends.length, acked_per_s: round(ok / span, 0), errors, unanswered, ack_ms: dist(acks) };
  console.log(`ingress alone: offered ${rate}/s, ${ingress.acked_per_s} acks/s, ack p50/p99 ${ingress.ack_ms.p50}/${ingress.ack_ms.p99} ms, errors ${errors} (cpu ${channelCpu})`);
  const wall = Date.now();
  const started = clock();
  await cluster.start("orchestrator");
  // Only acknowledged requests are owed a reply; wrk abandons the ones in flight when its time is up, and never
  // sends those queued behind an answer that did not come.
  const want = new Set(sends.map((s) => s[0]));
  const owed = ok;
  const arrivals: number[] = [];
  const end = Date.now() + 180_000;
  while (arrivals.length < owed && Date.now() < end) {
    for (const r of ctx.readReplies()) if (want.delete(r.chat)) arrivals.push(r.at);
    await sleep(200);
  }
  const store = await openStore({ url: `file:${cluster.dbPath}` });
  const rs = await store.client.execute({
    sql: "SELECT count(*) AS n, min(at) AS a, max(at) AS b FROM router_decisions WHERE at >= ?",
    args: [wall],
  });
  store.close();
  const row = rs.rows[0]!;
  const turns = Number(row["n"]);
  const turnSpan = (Number(row["b"]) - Number(row["a"])) / 1000;
  arrivals.sort((a, b) => a - b);
  const replySpan = ((arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0)) / 1000;
  const drain = {
    backlog: owed,
    replies: arrivals.length,
    first_reply_after_start_s: round(((arrivals[0] ?? NaN) - started) / 1000, 1),
    orchestrator_turns_per_s: round(turns / turnSpan, 0),
    replies_per_s: round(arrivals.length / replySpan, 0),
  };
  console.log(
    `orchestrator draining ${drain.backlog} alone: ${drain.orchestrator_turns_per_s} turns/s (router_decisions), ${drain.replies_per_s} replies/s at the fakes, first reply ${drain.first_reply_after_start_s} s after start`,
  );
  return { ingress, drain };
}

async function runCluster(
  name: string,
  telegram: number,
  whatsapp: number,
  steps: number[],
  full: boolean,
  experience: "off" | "default" = "off",
  v8Flags: readonly string[] = V8_FLAGS,
) {
  const dir = join(workDir, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const total = telegram + whatsapp + 2;
  const exp = experience === "off"
    ? (experienceConfigurable ? "conversation-experience features off (burst coalescing, streaming edits, notice)" : "")
    : "conversation-experience DEFAULTS (burst coalescing: each turn waits for a quiet chat)";
  console.log(`\n== ${total} agents: ${telegram} Telegram (webhook), ${whatsapp} WhatsApp, orchestrator, analytics${exp ? `; ${exp}` : ""}`);
  const cluster = await startCluster({
    dir,
    telegram,
    whatsapp,
    faq: BENCH_FAQ,
    llama: useLlama && full,
    pacing: "raised",
    clock,
    ...(experience === "off" ? { channelFields: experienceOff } : {}),
    v8Flags,
  });
  console.log(`agents' V8 flags: ${v8Flags.length ? v8Flags.join(" ") : "none (V8 defaults)"}`);
  const ctx = clusterContext(cluster);
  const result: Record<string, unknown> = {
    agents: total,
    experience: exp || "n/a (this version has no experience settings)",
    v8_flags: v8Flags,
  };
  try {
    const t0 = Date.now();
    await cluster.startAll();
    console.log(`all healthy in ${round((Date.now() - t0) / 1000)} s; idle 5 s`);
    // The CPU priorities the units would give (src/ops/priority.ts), as nice values of every thread.
    result["nice"] = Object.fromEntries(
      await Promise.all([...cluster.agents.values()].map(async (a) => [a.name, (await threadNices(a.pid()!)).join("/")])),
    );
    console.log("agents' nice (CPUWeight=300 channels, 100 others):", JSON.stringify(result["nice"]));
    await sleep(5_000);
    const idle = await memoryOf(cluster);
    result["rss_idle_mb"] = Object.fromEntries(Object.entries(idle).map(([n, m]) => [n, m.rss_mb]));
    console.log("idle VmRSS (MiB):", JSON.stringify(result["rss_idle_mb"]));
    // RSS counts the pages the agents share (the deno binary's, ~40 MiB) in each of them; PSS divides them.
    result["pss_idle_mb"] = Object.fromEntries(Object.entries(idle).map(([n, m]) => [n, m.pss_mb]));
    const pssSum = round(Object.values(idle).reduce((sum, m) => sum + m.pss_mb, 0));
    console.log(`idle PSS (MiB; shared pages divided among the agents): ${JSON.stringify(result["pss_idle_mb"])}, together ${pssSum}`);
    result["cache_entries_after_warmup"] = await warmCache(cluster, ctx.readReplies);
    cluster.groq.setDefault({ kind: "ok", text: "Hello from the fake Groq." });
    cluster.anthropic.setDefault({ kind: "ok", text: "Hello from the fake Claude." });
    // Warm-up (not reported): JIT, connection pools, the cache's lexical index.
    await step(ctx, "warmup", 50, 3, hitQuestions(), 20_000);
    const all: StepResult[] = [];
    const hits: StepResult[] = [];
    for (const rate of steps) {
      const s = await step(ctx, "hits", rate, seconds, hitQuestions(), 30_000);
      printStep(s);
      hits.push(s);
      // Stop climbing once far behind: the next step would only measure a longer queue.
      if (s.missing_replies > s.sent * 0.5) break;
    }
    all.push(...hits);
    result["hits"] = hits;
    if (full && !skip.has("model")) {
      realisticLatency(cluster);
      const model: StepResult[] = [];
      for (const rate of modelSteps) {
        const s = await step(ctx, "model", rate, seconds, modelQuestions(), 60_000);
        printStep(s);
        model.push(s);
      }
      if (useLlama) {
        // Groq and Claude failing: the real llama.cpp sidecar answers (once the breakers open, at once).
        cluster.groq.setDefault({ kind: "server_error" });
        cluster.anthropic.setDefault({ kind: "overloaded" });
        const s = await step(ctx, "local", 5, seconds, modelQuestions(), 60_000);
        printStep(s);
        model.push(s);
        realisticLatency(cluster);
      }
      all.push(...model);
      result["model"] = model;
    }
    if (full && !skip.has("bound")) result["bound"] = await boundProbe(cluster, ctx);
    // An agent that died during the steps keeps the last it reached (marked `exited`).
    result["rss_loaded_mb"] = loadedRss(all, await memoryOf(cluster), ctx.sampler?.highest() ?? new Map());
    console.log("loaded RSS (MiB; peak_rss: the largest step peak, VmRSS samples and VmHWM since the step began; hwm: VmHWM over the run):");
    console.log(JSON.stringify(result["rss_loaded_mb"]));
  } finally {
    ctx.sampler?.stop();
    await cluster.close();
  }
  return result;
}

/**
 * Where the agents' time goes under load: 6 agents, tg1 and the orchestrator under V8's sampling profiler (over
 * the inspector, bench/system/profile.ts) for the middle of one hit step at `rate`, with their CPU per thread over
 * the same window. Then tg1 alone (ingress only: orchestrator stopped, no other writer) for its ack latency
 * without a lock to share.
 */
async function profilePhase(rate: number) {
  const dir = join(workDir, "profile");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const taken = new Set<number>();
  const ports = new Map<string, number>();
  for (const name of ["tg1", "orchestrator"]) ports.set(name, await pickPort(taken));
  console.log(`\n== profile: 6 agents, ${[...ports.keys()].join(" and ")} under V8's sampling profiler, hits at ${rate}/s`);
  const cluster = await startCluster({
    dir,
    telegram: 2,
    whatsapp: 2,
    faq: BENCH_FAQ,
    pacing: "raised",
    clock,
    channelFields: experienceOff,
    denoFlags: (n) => (ports.has(n) ? [`--inspect=127.0.0.1:${ports.get(n)}`] : []),
  });
  const ctx = clusterContext(cluster);
  let s: StepResult;
  const agents: Record<string, ProfileSummary & { threads: ReturnType<typeof threadShare> }> = {};
  try {
    await cluster.startAll();
    await warmCache(cluster, ctx.readReplies);
    // The middle of the step: from 2 s after the load generator starts to 1 s before it stops.
    const profiling = (async () => {
      await sleep(2_000);
      const pids = [...ports.keys()].map((n) => cluster.agents.get(n)!.pid()!);
      const before = await Promise.all(pids.map(threadCpu));
      const t0 = clock();
      const profiles = await Promise.all([...ports.values()].map((port) => profileOver(port, Math.max(1, seconds - 3) * 1000)));
      const secs = (clock() - t0) / 1000;
      const after = await Promise.all(pids.map(threadCpu));
      // The raw profiles stay in the run's directory, for Chrome DevTools' Performance panel.
      await Promise.all([...ports.keys()].map((name, i) => writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(profiles[i]))));
      [...ports.keys()].forEach((name, i) => {
        agents[name] = { ...summarizeProfile(profiles[i]!), threads: threadShare(pids[i]!, before[i]!, after[i]!, secs) };
      });
    })();
    s = await step(ctx, "hits", rate, seconds, hitQuestions(), 30_000);
    await profiling;
    printStep(s);
  } finally {
    ctx.sampler?.stop();
    await cluster.close();
  }
  for (const [name, a] of Object.entries(agents)) {
    const others = Object.entries(a.threads.others).map(([t, v]) => `${t} ${v}`).join(", ");
    console.log(
      `${name}: CPU (% of a core) main thread ${a.threads.main_user} user + ${a.threads.main_sys} system, other threads ${others || "0"}\n` +
        `  main thread's samples (${a.samples}): ${Object.entries(a.pct).map(([c, v]) => `${c} ${v}%`).join(", ")}\n` +
        `  innermost of ours: ${a.top.slice(0, 8).map((t) => `${t.fn} ${t.pct}%`).join(", ")}`,
    );
  }
  // The same Telegram agent writing alone (orchestrator stopped, no other agent): no lock to wait for.
  const alone = join(dir, "alone");
  await mkdir(alone, { recursive: true });
  const single = await startCluster({
    dir: alone,
    telegram: 1,
    whatsapp: 0,
    analytics: false,
    faq: BENCH_FAQ,
    pacing: "raised",
    channelFields: experienceOff,
  });
  let aloneAcks: Dist;
  try {
    await single.startAll();
    await single.stop("orchestrator");
    const sctx = clusterContext(single);
    sctx.sampler?.stop();
    const load = await runLoad({
      targets: sctx.targets(rate, hitQuestions().questions),
      seconds,
      out: join(alone, "load.out.json"),
      telegramFixture,
    }, join(alone, "load.plan.json"));
    aloneAcks = dist(ackStats(load).acks);
  } finally {
    await single.close();
  }
  console.log(`tg1 alone (ingress only, no other writer) at ${rate}/s: ack p50/p99 ${aloneAcks.p50}/${aloneAcks.p99} ms`);
  return { rate, step: s, agents, categories: CATEGORIES, tg1_alone_ack_ms: aloneAcks };
}

/** The classic pipeline (bench/system/classic.ts) under the same load generator. */
async function runClassic(rates: number[]) {
  console.log("\n== classic design's parameters: 1 s poll, LIMIT 10, one UPDATE per row (Telegram webhook → orchestrator → sender)");
  const dir = join(workDir, "classic");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const db = join(dir, "classic.db");
  const faq = join(dir, "faq.json");
  await writeFile(faq, JSON.stringify({ entries: BENCH_FAQ }));
  const token = `7000000099:AAH${crypto.randomUUID().replaceAll("-", "")}`;
  const secret = `whsec_${crypto.randomUUID().replaceAll("-", "")}`;
  const tg = await startFakeTelegram({ token, now: clock });
  const port = await pickPort();
  const script = `${repoRoot}bench/system/classic.ts`;
  await runToEnd(denoBin, ["run", "-A", script, db, "setup"], join(dir, "classic.log"));
  const procs = [
    spawn(denoBin, ["run", "-A", script, db, "channel", String(port), secret, tg.apiRoot, token], { stdio: "ignore" }),
    spawn(denoBin, ["run", "-A", script, db, "orchestrator", faq], { stdio: "ignore" }),
  ];
  const steps: StepResult[] = [];
  try {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(100)) {
      const status = await fetch(`http://127.0.0.1:${port}/`, { method: "POST" }).then((r) => r.status, () => 0);
      if (status === 401) break;
    }
    const ctx: StepContext = {
      agents: 2,
      targets: (rate, questions) => [{
        name: "classic",
        kind: "telegram",
        url: `http://127.0.0.1:${port}/telegram/webhook`,
        rate,
        secret,
        ...bases(),
        questions,
      }],
      pids: () => new Map(procs.map((p, i) => [i === 0 ? "classic-channel" : "classic-orchestrator", p.pid])),
      readReplies: createReplyReader({ telegram: [tg], graph: [] }),
    };
    const work: Work = { questions: BENCH_FAQ.map((f) => f.questions[0]!), categories: BENCH_FAQ.map(() => "faq" as const) };
    for (const rate of rates) {
      const s = await step(ctx, "classic", rate, seconds, work, 30_000);
      printStep(s);
      steps.push(s);
    }
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    await tg.close();
  }
  return steps;
}

/** VmRSS of a process that loads `mode` and idles (bench/system/floor.ts). */
async function floorRss(mode: string): Promise<number> {
  const db = join(workDir, `floor-${mode}.db`);
  for (const s of ["", "-wal", "-shm"]) await rm(db + s, { force: true });
  const child = spawn(denoBin, ["run", "-A", V8_FLAGS_ARG, `${repoRoot}bench/system/floor.ts`, mode, db], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
  await sleep(2_000);
  const m = await readMemory(child.pid!);
  child.kill("SIGKILL");
  return round(m?.rssMb ?? NaN);
}

const maxOf = (xs: number[]) => (xs.length === 0 ? NaN : Math.max(...xs));

if (import.meta.main) {
  await mkdir(workDir, { recursive: true });
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: round(totalmem() / 2 ** 30),
    runtime: `deno ${process.versions["deno"] ?? "?"}`,
    loadavg_at_start: loadavg().map((l) => round(l, 2)),
  };
  console.log(
    `system bench on ${machine.cpus} × ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.runtime}, load ${machine.loadavg_at_start.join(" ")}${
      quick ? " (quick)" : ""
    }; ${seconds} s per step`,
  );
  console.log("pacing RAISED for the benchmark (perChatMs/perUserMs 0, perSecond 100000) and the fakes enforce no send limits:");
  console.log("  on the real platforms a bot sends ~30 msg/s (~1 msg/s per chat) and WhatsApp ~1 msg/6 s per user; that is not what this measures");
  const six = await runCluster("six", 2, 2, hitSteps, true);
  const profile = skip.has("profile") ? undefined : await profilePhase(args.profileRate);
  const sixDefaults = experienceConfigurable && !skip.has("defaults")
    ? await runCluster("six-defaults", 2, 2, defaultsSteps, false, "default")
    : undefined;
  // The same 6 agents with V8's defaults (young generation up to 16 MiB per semi-space, normal heap growth).
  const sixV8 = skip.has("v8") ? undefined : await runCluster("six-v8-defaults", 2, 2, v8Steps, false, "off", []);
  const twelve = skip.has("twelve") ? undefined : await runCluster("twelve", 5, 5, twelveSteps, false);
  const classic = skip.has("classic") ? undefined : await runClassic(classicSteps);
  const floor = skip.has("floor")
    ? undefined
    : { bare_deno_mb: await floorRss("bare"), deno_libsql_store_mb: await floorRss("store"), all_agent_code_loaded_mb: await floorRss("imports") };
  if (floor) console.log("\nmemory floor (VmRSS MiB):", JSON.stringify(floor));

  const hits = six["hits"] as StepResult[];
  const { head, meeting } = headlineStep(hits);
  const bestHits = maxOf(hits.map((s) => s.replies_per_s));
  const classicBest = classic ? maxOf(classic.map((s) => s.replies_per_s)) : NaN;
  // Latency side by side at the same offered load (the first classic step that one of our steps also ran).
  const pair = classic?.map((c) => [c, hits.find((h) => h.offered_per_s === c.offered_per_s)] as const).find(([, h]) => h);
  const classicLow = pair?.[0];
  const ourLow = pair?.[1] ?? hits[0]!;
  const idleAll = [six, ...(twelve ? [twelve] : [])].flatMap((r) => Object.values(r["rss_idle_mb"] as Record<string, number>));
  const loadedAll = [six, ...(twelve ? [twelve] : [])].flatMap((r) =>
    Object.values(r["rss_loaded_mb"] as Record<string, { peak_rss: number; hwm: number }>).map((m) => Math.max(m.peak_rss || 0, m.hwm))
  );
  const result = {
    suite: "system",
    date: new Date().toISOString(),
    quick,
    machine,
    what: "cache/FAQ hits: replies_per_s, ack_p99_ms and reply_p50_ms at the highest offered-load step (6 agents) whose webhook ack p99 ≤ 25 ms with every request sent, acknowledged 2xx and replied to; reply_p50_ms is for cache hits (faq_reply_p50_ms for FAQ answers)",
    pacing: "raised for the benchmark: perChatMs/perUserMs 0, perSecond 100000; the fakes enforce no send limits",
    replies_per_s: head.replies_per_s,
    offered_per_s: head.offered_per_s,
    ack_p50_ms: head.ack_ms.p50,
    ack_p99_ms: head.ack_ms.p99,
    reply_p50_ms: head.reply_ms.cache?.p50 ?? NaN,
    reply_p99_ms: head.reply_ms.cache?.p99 ?? NaN,
    faq_reply_p50_ms: head.reply_ms.faq?.p50 ?? NaN,
    ack_target_met_at_some_step: meeting.length > 0,
    max_hit_replies_per_s: bestHits,
    // Memory figures (rss_*, pss_*) are MiB (2^20 bytes: /proc's kB / 1024, systemd's MemoryMax=…M), targets too.
    memory_unit: "MiB",
    rss_idle_mb_max: maxOf(idleAll),
    rss_loaded_mb_max: maxOf(loadedAll),
    pss_idle_mb_sum: round(Object.values(six["pss_idle_mb"] as Record<string, number>).reduce((a, b) => a + b, 0)),
    // The largest agent's peak VmRSS during the step above (rss_loaded_mb_max: over every step, overload included).
    rss_loaded_mb_max_at_ack_step: maxOf(Object.values(head.rss_peak_mb)),
    classic_replies_per_s: classicBest,
    classic_reply_p50_ms: classicLow?.reply_ms.faq?.p50 ?? NaN,
    classic_compared_at_offered_per_s: classicLow?.offered_per_s ?? NaN,
    vs_classic_throughput: round(bestHits / classicBest, 0),
    // FAQ against FAQ: the classic pipeline answers nothing else.
    vs_classic_reply_p50_at_same_load: classicReplyRatio(classicLow, ourLow),
    targets: { replies_per_s: 1_000, ack_p99_ms: 25, reply_p50_ms: 15, rss_idle_mb_max: 80, rss_loaded_mb_max: 120 },
    experience_defaults: sixDefaults
      ? (sixDefaults["hits"] as StepResult[]).map((h) => ({
        offered_per_s: h.offered_per_s,
        replies_per_s: h.replies_per_s,
        reply_p50_ms: h.reply_ms.all?.p50 ?? NaN,
        missing_replies: h.missing_replies,
      }))
      : "n/a",
    profile,
    v8_flags: V8_FLAGS,
    v8_defaults: sixV8
      ? {
        rss_idle_mb_max: maxOf(Object.values(sixV8["rss_idle_mb"] as Record<string, number>)),
        rss_loaded_mb_max: maxOf(
          Object.values(sixV8["rss_loaded_mb"] as Record<string, { peak_rss: number; hwm: number }>).map((m) => Math.max(m.peak_rss || 0, m.hwm)),
        ),
        hits: (sixV8["hits"] as StepResult[]).map((h) => ({
          offered_per_s: h.offered_per_s,
          replies_per_s: h.replies_per_s,
          cpu_ms_per_reply: h.cpu_ms_per_reply,
        })),
      }
      : "n/a",
    runs: { six, six_defaults: sixDefaults, six_v8_defaults: sixV8, twelve, classic, floor },
  };
  await mkdir(resolve(outPath, ".."), { recursive: true });
  await writeFile(outPath, `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    `\nsystem.json: replies_per_s ${result.replies_per_s} (offered ${result.offered_per_s}/s), ack_p99_ms ${result.ack_p99_ms}, reply_p50_ms ${result.reply_p50_ms} (cache; FAQ ${result.faq_reply_p50_ms}), ` +
      `rss_idle_mb_max ${result.rss_idle_mb_max}, rss_loaded_mb_max ${result.rss_loaded_mb_max} (${result.rss_loaded_mb_max_at_ack_step} at that step); max hit replies/s ${bestHits}; ` +
      (classic
        ? `classic ${classicBest} replies/s (×${result.vs_classic_throughput}), classic reply p50 ${result.classic_reply_p50_ms} ms (×${result.vs_classic_reply_p50_at_same_load} ours at ${ourLow.offered_per_s}/s)`
        : "classic skipped"),
  );
  console.log(`targets: ≥ 1000 replies/s, ack p99 ≤ 25 ms, reply p50 ≤ 15 ms, idle ≤ 80 MiB, loaded ≤ 120 MiB (each agent's VmRSS)\nwrote ${outPath}`);
}
