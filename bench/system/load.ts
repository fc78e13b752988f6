// The load generator of the system benchmark, run as its own process (`deno run -A bench/system/load.ts PLAN`)
// so its work never delays the fake platforms' clocks. It prepares REAL platform payloads — Telegram updates
// with the secret-token header, WhatsApp notifications signed with the app secret (HMAC-SHA256 of the exact body
// bytes), one fresh chat per request (chat id = chatBase + n) — and posts them with wrk, one wrk process per
// target (bench/system/wrk.lua: each request posted when it is due, one connection per wrk thread, each
// request's answer timed by the thread that sent it). Arrivals are a Poisson process at each target's rate.
//
// wrk replaced autocannon on 2026-11-29: autocannon used 14–20 % of a core at 250–1,000/s on the benchmark's two
// cores; wrk's C and prepared requests leave that CPU to the agents, as a remote client would.
//
// Output (JSON file `plan.out`): per target the sends ([chat, question index, sentAt ms epoch]) and every
// webhook answer's status and latency.
import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { signature, textPayload } from "../../test/fakes/graph.ts";
import { makeUpdate } from "../../test/fakes/telegram.ts";
import { seeded } from "../soak/plan.ts";
import { parseProcStat } from "./measure.ts";

export interface LoadTarget {
  name: string;
  kind: "telegram" | "whatsapp";
  url: string;
  /** Requests per second offered to this target. */
  rate: number;
  /** Telegram: the webhook secret token; WhatsApp: the app secret. */
  secret: string;
  phoneNumberId?: string;
  chatBase: number;
  /** Update ids / wamids start here (unique across the whole run). */
  idBase: number;
  questions: string[];
}

export interface LoadPlan {
  targets: LoadTarget[];
  seconds: number;
  out: string;
  /** Telegram fixture update (test/fixtures/telegram/text.json). */
  telegramFixture: Record<string, unknown>;
}

export interface TargetResult {
  name: string;
  /** Requests prepared for the step; those not in `sends` were never sent (queued behind an unanswered one). */
  planned: number;
  /** [chat, question index, sentAt] */
  sends: [number, number, number][];
  /** Per send, how late it left after it was due (ms). */
  lateMs: number[];
  ackMs: number[];
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
}

export interface LoadResult {
  startedAt: number;
  endedAt: number;
  /** CPU seconds the load generator used. */
  cpuS: number;
  targets: TargetResult[];
}

const clock = () => performance.timeOrigin + performance.now();
const wrkScript = fileURLToPath(new URL("./wrk.lua", import.meta.url));
/** Seconds wrk goes on after its last scheduled request, for the answers still on their way. */
const TAIL_S = 2;

/** Request n of a target: its one header (secret token or signature) and its body. */
function requestFor(plan: LoadPlan, t: LoadTarget, n: number): { header: string; body: string } {
  const chat = t.chatBase + n;
  // `{n}` makes a question unique to the request (model workload: never an FAQ or cache hit).
  const text = t.questions[n % t.questions.length]!.replace("{n}", String(t.idBase + n));
  if (t.kind === "telegram") {
    const u = makeUpdate(plan.telegramFixture, { updateId: t.idBase + n, chatId: chat, text });
    return { header: t.secret, body: JSON.stringify(u) };
  }
  const body = JSON.stringify(textPayload({
    id: `wamid.BENCH${t.idBase + n}`,
    from: String(chat),
    body: text,
    phoneNumberId: t.phoneNumberId!,
  }));
  return { header: signature(body, t.secret), body };
}

/**
 * Writes a target's requests for wrk.lua (a line each: when it is due, in ms after the start; the header's value;
 * the body; tab-separated); returns the file. Arrivals are a Poisson process at the target's rate (independent
 * customers), given its count: rate × seconds requests at uniformly random times in the step, in order (seeded
 * by the target's id base, so a run can be repeated).
 */
async function prepare(plan: LoadPlan, t: LoadTarget, dir: string): Promise<Prepared> {
  const random = seeded(t.idBase);
  const count = Math.ceil(t.rate * plan.seconds);
  const due = Array.from({ length: count }, () => Math.round(random() * plan.seconds * 1000)).sort((a, b) => a - b);
  const lines = due.map((ms, n) => {
    const { header, body } = requestFor(plan, t, n);
    return `${ms}\t${header}\t${body}`;
  });
  const file = `${dir}/${t.name}.requests`;
  await writeFile(file, lines.join("\n") + "\n");
  return { file, due };
}

interface Prepared {
  file: string;
  /** When each request is due, in ms after the start. */
  due: number[];
}

/** Posts a target's prepared requests with one wrk process, its schedule starting at `t0` (ms epoch). */
async function drive(plan: LoadPlan, t: LoadTarget, prepared: Prepared, t0: number): Promise<TargetResult> {
  const out = `${prepared.file}.wrk`;
  // One connection per thread, ⌈rate / 4⌉ threads: each sends every N-th request, ~4 a second (at 250/s, one every
  // 250 ms on average): it falls behind only while an answer takes longer.
  const threads = Math.max(1, Math.ceil(t.rate / 4));
  const seconds = Math.ceil((t0 - clock()) / 1000 + plan.seconds + TAIL_S);
  const args = ["-t", String(threads), "-c", String(threads), "-d", `${seconds}s`, "--timeout", "30s", "-s", wrkScript];
  const child = spawn("wrk", [...args, t.url], {
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...process.env,
      WRK_REQUESTS: prepared.file,
      WRK_HEADER: t.kind === "telegram" ? "X-Telegram-Bot-Api-Secret-Token" : "X-Hub-Signature-256",
      WRK_T0: String(t0),
      WRK_THREADS: String(threads),
      WRK_OUT: out,
    },
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", (err) => reject(new Error(`cannot run wrk (apt-get install wrk): ${err.message}`)));
    child.once("exit", resolve);
  });
  if (code !== 0) throw new Error(`wrk for ${t.name} exited ${code}`);
  const files = [`${out}.json`, ...Array.from({ length: threads }, (_, i) => `${out}.${i}`)];
  const [summary, ...records] = await Promise.all(files.map((f) => readFile(f, "utf8")));
  await Promise.all([prepared.file, ...files].map((f) => rm(f)));
  const { errors, timeouts } = JSON.parse(summary!) as { errors: number; timeouts: number };
  const result: TargetResult = {
    name: t.name,
    planned: prepared.due.length,
    sends: [],
    lateMs: [],
    ackMs: [],
    statuses: {},
    errors,
    timeouts,
  };
  for (const line of records.join("").split("\n")) {
    const [kind, k, value, status] = line.split(" ");
    const n = Number(k);
    if (kind === "s") {
      result.sends.push([t.chatBase + n, n % t.questions.length, Number(value)]);
      result.lateMs.push(Number(value) - (t0 + prepared.due[n]!));
    } else if (kind === "a") {
      result.ackMs.push(Number(value));
      result.statuses[status!] = (result.statuses[status!] ?? 0) + 1;
    }
  }
  return result;
}

/** CPU seconds of this process and of its children that ended (the wrk processes). The requests are prepared
 * before the load starts: the load's CPU is the difference from then. */
async function cpuWithChildren(): Promise<number> {
  const { user, sys, children } = parseProcStat(await readFile("/proc/self/stat", "utf8"));
  return user + sys + children;
}

if (import.meta.main) {
  const plan = JSON.parse(await readFile(process.argv[2]!, "utf8")) as LoadPlan;
  const dir = plan.out.slice(0, plan.out.lastIndexOf("/"));
  const driven = plan.targets.filter((t) => t.rate > 0);
  const prepared = await Promise.all(driven.map((t) => prepare(plan, t, dir)));
  const startedAt = clock();
  const cpu0 = await cpuWithChildren();
  const start = startedAt + 500; // every wrk has read its requests and connected before its first is due
  const targets = await Promise.all(driven.map((t, j) => drive(plan, t, prepared[j]!, start)));
  const out: LoadResult = { startedAt, endedAt: clock(), cpuS: (await cpuWithChildren()) - cpu0, targets };
  await writeFile(plan.out, JSON.stringify(out));
}
