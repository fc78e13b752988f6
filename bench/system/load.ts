// The load generator of the system benchmark, run as its own process (`deno run -A bench/system/load.ts PLAN`)
// so its work never delays the fake platforms' clocks. autocannon (programmatic API) posts REAL platform
// payloads: Telegram updates with the secret-token header, WhatsApp notifications signed with the app secret
// (HMAC-SHA256 of the exact body bytes), one fresh chat per request (chat id = chatBase + n), at a fixed
// offered rate per target.
//
// autocannon's `overallRate` is enforced per connection per 1-second window (all connections of an instance
// start their window together, then send back to back), so one instance offers its load in bursts. To offer the
// load evenly, each target is driven by up to `phases` instances (each offering ≥ 1/s; at most 200 instances in
// all, each costs the generator CPU) started 1000/phases ms apart, sharing its rate, and the targets' instances
// are interleaved (target j starts j/N of that interval
// later): at 100/s over 10 targets a request every 10 ms. (Until 2026-11-28 the instances offered ≥ 4/s and all
// targets started together: 10 targets at 10/s each received ~50 requests at the same instant twice a second,
// which is what made 12 agents look several times slower than 6 at the same total rate.)
//
// Output (JSON file `plan.out`): per target the sends ([chat, question index, sentAt ms epoch, high resolution])
// and every webhook answer's status and latency (autocannon's per-response time; its own histogram is not used:
// with a rate set it adds coordinated-omission samples assuming a 1 ms interval).
import autocannon from "autocannon";
import { readFile, writeFile } from "node:fs/promises";
import process from "node:process";
import { signature, textPayload } from "../../test/fakes/graph.ts";
import { makeUpdate } from "../../test/fakes/telegram.ts";

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
  phases: number;
  out: string;
  /** Telegram fixture update (test/fixtures/telegram/text.json). */
  telegramFixture: Record<string, unknown>;
}

export interface TargetResult {
  name: string;
  /** [chat, question index, sentAt] */
  sends: [number, number, number][];
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bodyFor(plan: LoadPlan, t: LoadTarget, n: number): { body: string; headers: Record<string, string> } {
  const chat = t.chatBase + n;
  // `{n}` makes a question unique to the request (model workload: never an FAQ or cache hit).
  const text = t.questions[n % t.questions.length]!.replace("{n}", String(t.idBase + n));
  if (t.kind === "telegram") {
    const u = makeUpdate(plan.telegramFixture, { updateId: t.idBase + n, chatId: chat, text });
    return {
      body: JSON.stringify(u),
      headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": t.secret },
    };
  }
  const body = JSON.stringify(textPayload({
    id: `wamid.BENCH${t.idBase + n}`,
    from: String(chat),
    body: text,
    phoneNumberId: t.phoneNumberId!,
  }));
  return {
    body,
    headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, t.secret) },
  };
}

/** How many autocannon instances drive a target: at most `phases` and 200 over all targets, each ≥ 1/s. */
const phasesOf = (plan: LoadPlan, t: LoadTarget, targets: number) =>
  Math.max(1, Math.min(plan.phases, Math.floor(200 / targets), Math.floor(t.rate)));

async function drive(plan: LoadPlan, t: LoadTarget, phases: number, offsetMs: number): Promise<TargetResult> {
  const result: TargetResult = { name: t.name, sends: [], ackMs: [], statuses: {}, errors: 0, timeouts: 0 };
  let n = 0;
  const perInstance = t.rate / phases; // the instances' rates add up to the target's rate
  const runs: Promise<unknown>[] = [];
  await sleep(offsetMs);
  for (let i = 0; i < phases; i++) {
    const rate = Math.max(1, Math.round(perInstance * (i + 1)) - Math.round(perInstance * i));
    const instance = autocannon({
      url: t.url,
      method: "POST",
      duration: plan.seconds,
      connections: Math.max(1, Math.ceil(rate / 4)),
      overallRate: rate,
      timeout: 30,
      requests: [{
        setupRequest(req: Record<string, unknown>) {
          const k = n++;
          const { body, headers } = bodyFor(plan, t, k);
          result.sends.push([t.chatBase + k, k % t.questions.length, clock()]);
          return { ...req, method: "POST", body, headers };
        },
      }],
    });
    instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
      result.ackMs.push(ms);
      result.statuses[status] = (result.statuses[status] ?? 0) + 1;
    });
    instance.on("reqError", () => result.errors++);
    runs.push(new Promise((resolve) => instance.on("done", resolve)));
    if (i < phases - 1) await sleep(1000 / phases);
  }
  const done = await Promise.all(runs) as { timeouts: number }[];
  result.timeouts = done.reduce((a, r) => a + (r.timeouts ?? 0), 0);
  return result;
}

if (import.meta.main) {
  const plan = JSON.parse(await readFile(process.argv[2]!, "utf8")) as LoadPlan;
  const startedAt = clock();
  const driven = plan.targets.filter((t) => t.rate > 0);
  const targets = await Promise.all(
    driven.map((t, j) => {
      const phases = phasesOf(plan, t, driven.length);
      return drive(plan, t, phases, (j / driven.length) * (1000 / phases));
    }),
  );
  const cpu = process.cpuUsage();
  const out: LoadResult = { startedAt, endedAt: clock(), cpuS: (cpu.user + cpu.system) / 1e6, targets };
  await writeFile(plan.out, JSON.stringify(out));
}
