/**
 * The chaos soak (RELIABILITY.md C4): the whole system as separate processes (bench/system/cluster.ts) takes
 * `messages` inbound messages over `chats` chats on both channels while the chaos script (chaos.ts) kills,
 * recycles and starves it; then chaos stops, every agent is up again, the bus drains (bounded), the agents stop
 * gracefully and the checker (checker.ts) compares what every user saw with what they sent and with the store.
 * Used by `npm run soak` (bench/soak/main.ts), the shortened soak in test/system and the security sweep.
 *
 * Soak settings that differ from production defaults, and why: send pacing 250 ms per chat / 1,000 msg/s (the
 * platforms' 1 msg/s per chat and 1 per 6 s per WhatsApp user would only stretch the drain); per-user limit
 * 1,000 messages a minute (a chat catching up after an outage must not hit the abuse limit, tested on its own
 * in test/security); the injector honours Retry-After only up to 2 s. The fake Graph APIs post every
 * message's status webhooks (sent, delivered), as Meta does: they settle WhatsApp sends whose outcome a kill
 * made unknown — which the chaos also causes on purpose, killing WhatsApp agents mid-send (chaos.ts).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { openStore } from "../../src/store/mod.ts";
import { backByMs } from "../../src/agents/whatsapp/statuses.ts";
import { type Cluster, repoRoot, startCluster } from "../system/cluster.ts";
import type { CutMode } from "../../test/fakes/graph.ts";
import { type ChaosEvent, startChaos } from "./chaos.ts";
import { check, type CheckReport, type Received } from "./checker.ts";
import { assignChannels, inject, type Injected } from "./inject.ts";
import { planMessages, SOAK_FAQ } from "./plan.ts";

export interface SoakOptions {
  dir: string;
  messages: number;
  chats: number;
  /** Injection lasts about this long (rate = messages / seconds). */
  seconds: number;
  telegram?: number;
  whatsapp?: number;
  seed?: number;
  chaos?: boolean;
  killEveryS?: [number, number];
  recycleEveryS?: [number, number];
  burstEveryS?: [number, number];
  burstLengthS?: [number, number];
  /**
   * The WhatsApp agents' `whatsapp.statusWaitS`: how long a send whose outcome a kill left unknown waits for its
   * status before it is sent again (src/agents/whatsapp/statuses.ts). Default the setting's, 180 s.
   */
  statusWaitS?: number;
  /**
   * WhatsApp agents killed mid-send (chaos.ts): a cut armed every `everyS` until `untilS` into the injection, the
   * `modes` in turn. Default every 30–60 s until half the status wait before the injection ends (90 s by default:
   * a "lost" send is resent only if statuses of later sends were stored within half the wait after it), lost then
   * reached. A run in which a mode it asked for never happened fails (`passed`); one too short for a cut of each
   * mode is refused. Off with `false` (or `chaos: false`).
   */
  cutSend?: { everyS?: [number, number]; untilS?: number; modes?: CutMode[] } | false;
  /** systemd's RestartSec for a crashed agent. Default 1 s. */
  crashDelayMs?: number;
  drainTimeoutS?: number;
  /** Real llama.cpp sidecar last in every chain. Default false. */
  llama?: boolean;
  /** Replaces the soak's router config (the security sweep adds failing providers). */
  router?: Parameters<typeof startCluster>[0]["router"];
  patchConfig?: (config: Record<string, unknown>) => void;
  /** Agents the caller makes unhealthy on purpose: up once their /health answers (`ClusterOptions.answering`). */
  answering?: readonly string[];
  /** More secrets for providers the caller adds (environment variable names). */
  extraSecrets?: string[];
  /** Called after the drain, before the agents stop (e.g. to read the -wal file while they run). */
  beforeStop?: (cluster: Cluster) => Promise<void>;
  /**
   * The caller gives up on the run (its test's timeout, say): every agent is stopped at once, none starts again,
   * and the run rejects with the reason. A test must give up before its own timeout: vitest ends a timed-out
   * file's worker, and agents it had not stopped would live on.
   */
  signal?: AbortSignal;
  /** Called once the cluster runs, before injection (e.g. to script the fakes). */
  afterStart?: (cluster: Cluster) => Promise<void>;
  log?: (line: string) => void;
}

export interface SoakResult {
  report: CheckReport;
  chaos: ChaosEvent[];
  /** Starts per agent (1 = never restarted). */
  starts: Record<string, number>;
  injectSeconds: number;
  drainSeconds: number;
  drained: boolean;
  /** WhatsApp agents killed mid-send, per mode asked for; undefined when the run asked for none. */
  midSendKills: Partial<Record<CutMode, number>> | undefined;
  secrets: Readonly<Record<string, string>>;
  logDir: string;
  dbPath: string;
  received: ReadonlyMap<string, Received[]>;
  fallbackText: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function backlog(dbPath: string): Promise<number> {
  const store = await openStore({ url: `file:${dbPath}` });
  try {
    const rs = await store.client.execute(
      "SELECT count(*) AS n FROM bus_deliveries WHERE topic = 'inbound' OR topic LIKE 'outbound.%'",
    );
    return Number(rs.rows[0]!["n"]);
  } finally {
    store.close();
  }
}

function received(cluster: Cluster): Map<string, Received[]> {
  const out = new Map<string, Received[]>();
  for (const [agent, fake] of cluster.telegram) {
    out.set(agent, fake.sent.map((s) => ({
      chatId: String(s.chatId),
      text: s.text,
      platformId: String(s.messageId),
      at: s.at,
      ...(s.deleted ? { deleted: true } : {}),
    })));
  }
  for (const [agent, fake] of cluster.graph) {
    out.set(agent, fake.sent.map((s) => ({ chatId: s.to, text: s.text ?? `[template ${s.template?.name}]`, platformId: s.id, at: s.at })));
  }
  return out;
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const statusWaitS = opts.statusWaitS ?? 180;
  const cut = opts.chaos === false || opts.cutSend === false ? undefined : {
    everyS: [30, 60] as [number, number],
    untilS: opts.seconds - backByMs(statusWaitS * 1_000) / 1_000,
    modes: ["lost", "reached"] as CutMode[],
    ...opts.cutSend,
  };
  if (cut && cut.modes.length === 0) {
    throw new Error("soak: cutSend.modes names no kind of mid-send kill: name lost, reached or both, or set cutSend false");
  }
  if (cut && cut.untilS < cut.everyS[1] * cut.modes.length) {
    throw new Error(
      `soak: mid-send kills (${cut.modes.join(", ")} in turn) are armed every ${cut.everyS.join("–")} s until ` +
        `${cut.untilS} s into the injection, so not each might happen: lengthen the run, or set cutSend ` +
        `(everyS, untilS and modes, or false)`,
    );
  }
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? 1;
  const fallbackText = "Sorry, our assistant is temporarily unavailable. We'll get back to you shortly.";
  // A getter: the fakes read `delayMs` on every request, so each answer takes 50–300 ms.
  const ok = (text: string) => ({ kind: "ok" as const, text, get delayMs() { return 50 + Math.random() * 250; } });
  const cluster = await startCluster({
    dir: opts.dir,
    telegram: opts.telegram ?? 2,
    whatsapp: opts.whatsapp ?? 2,
    faq: SOAK_FAQ,
    llama: opts.llama ?? false,
    pacing: 250,
    statusWebhooks: true,
    ...(opts.statusWaitS !== undefined && { whatsappFields: { statusWaitS: opts.statusWaitS } }),
    supervise: { crashDelayMs: opts.crashDelayMs ?? 1_000 },
    ...(opts.extraSecrets ? { extraSecrets: opts.extraSecrets } : {}),
    router: opts.router ?? ((urls) => {
      const local = urls.llama ? ["local"] : [];
      return {
        deadlineMs: 15_000,
        providers: {
          groq: { kind: "groq", baseUrl: urls.groq, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_API_KEY", maxConcurrent: 32 },
          claude: { kind: "anthropic", baseUrl: urls.anthropic, model: "claude-haiku-4-5", apiKeyEnv: "ANTHROPIC_API_KEY", maxConcurrent: 32 },
          ...(urls.llama ? { local: { kind: "llama-cpp", baseUrl: urls.llama, model: "tiny", timeoutMs: 10_000 } } : {}),
        },
        tiers: { simple: ["groq", "claude", ...local], complex: ["claude", "groq", ...local], "high-value": ["claude", "groq", ...local] },
        budget: { dailyUsd: 1_000, monthlyUsd: 10_000, prices: { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } } },
      };
    }),
    patchConfig: (config) => {
      config["conversation"] = { perUserPerMinute: 1_000, fallbackText };
      opts.patchConfig?.(config);
    },
    ...(opts.answering ? { answering: opts.answering } : {}),
  });
  const giveUp = () => void cluster.close().catch(() => {}); // its failure is the `finally`'s to report
  opts.signal?.addEventListener("abort", giveUp, { once: true });
  const healthy = () => {
    cluster.groq.setDefault(ok("Your order is on its way."));
    cluster.anthropic.setDefault(ok("The carrier delayed it; it ships today."));
  };
  try {
    opts.signal?.throwIfAborted(); // given up while the cluster was set up
    healthy();
    await cluster.startAll();
    await opts.afterStart?.(cluster);
    const telegramFixture = JSON.parse(await readFile(`${repoRoot}test/fixtures/telegram/text.json`, "utf8"));
    const injected: Injected[] = assignChannels(cluster, planMessages(opts.messages, opts.chats, seed));
    log(`soak: ${opts.messages} messages over ${opts.chats} chats on ${[...cluster.telegram.keys(), ...cluster.graph.keys()].join(", ")} in ~${opts.seconds} s${opts.chaos === false ? " (no chaos)" : " with chaos"}`);
    const chaos = opts.chaos === false ? undefined : startChaos(cluster, {
      seed,
      killEveryS: opts.killEveryS ?? [5, 30],
      recycleEveryS: opts.recycleEveryS ?? [10, 40],
      burstEveryS: opts.burstEveryS ?? [10, 40],
      burstLengthS: opts.burstLengthS ?? [3, 10],
      ...(cut && { cutSend: { everyS: cut.everyS, until: Date.now() + cut.untilS * 1_000, modes: cut.modes } }),
      healthy,
      log,
    });
    const t0 = Date.now();
    const progress = setInterval(() => {
      const acked = injected.filter((m) => m.ackedAt !== undefined).length;
      const got = [...cluster.telegram.values()].reduce((n, f) => n + f.sent.length, 0) +
        [...cluster.graph.values()].reduce((n, f) => n + f.sent.length, 0);
      log(`soak: ${Math.round((Date.now() - t0) / 1000)} s: ${acked}/${injected.length} acknowledged, ${got} replies received`);
    }, 10_000);
    try {
      await inject(cluster, injected, { rate: opts.messages / opts.seconds, seed, telegramFixture, ...(opts.signal && { signal: opts.signal }) });
      opts.signal?.throwIfAborted();
    } finally {
      chaos?.stop();
      clearInterval(progress);
    }
    const injectSeconds = (Date.now() - t0) / 1000;
    log(`soak: injection done in ${Math.round(injectSeconds)} s; chaos stopped; bringing every agent up and draining`);
    for (const name of cluster.agents.keys()) await cluster.start(name, 60_000);
    const d0 = Date.now();
    const drainEnd = d0 + (opts.drainTimeoutS ?? 240) * 1_000;
    let drained = false;
    let quietSince = 0;
    while (Date.now() < drainEnd) {
      opts.signal?.throwIfAborted();
      if ((await backlog(cluster.dbPath)) === 0) {
        quietSince ||= Date.now();
        // Empty for 3 s: nothing in flight, no retry waiting.
        if (Date.now() - quietSince >= 3_000) {
          drained = true;
          break;
        }
      } else quietSince = 0;
      await sleep(500);
    }
    const drainSeconds = (Date.now() - d0) / 1000;
    log(`soak: ${drained ? "drained" : "drain timed out"} after ${Math.round(drainSeconds)} s`);
    await opts.beforeStop?.(cluster);
    await cluster.stopAll();
    const starts = Object.fromEntries([...cluster.agents.values()].map((a) => [a.name, a.starts()]));
    const got = received(cluster);
    const report = await check({ dbPath: cluster.dbPath, injected, received: got, faq: SOAK_FAQ });
    return {
      report,
      chaos: chaos?.events ?? [],
      starts,
      injectSeconds,
      drainSeconds,
      drained,
      midSendKills: cut &&
        Object.fromEntries(cut.modes.map((m) => [m, chaos?.events.filter((e) => e.action === "cut-send" && e.mode === m).length ?? 0])),
      secrets: cluster.secrets,
      logDir: `${opts.dir}/logs`,
      dbPath: cluster.dbPath,
      received: got,
      fallbackText,
    };
  } catch (err) {
    // Whatever failed once the caller gave up (a start refused, a wait cut short), the run ends for that reason.
    opts.signal?.throwIfAborted();
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", giveUp);
    await cluster.close();
  }
}

/**
 * Why the run failed, one phrase per broken guarantee; empty when every guarantee held (`npm run soak` exits 1
 * otherwise). A message still queued when the drain ended is not answered either: the run fails, as the test
 * suite's soak does; so does a run that injected nothing (it checked nothing), and one that asked for mid-send
 * kills of a mode (before Graph got the send, or after) and had none (it did not test what it claims).
 */
export function failures(r: Pick<SoakResult, "report" | "drained" | "midSendKills">): string[] {
  const c = r.report;
  const counts: [number, string][] = [
    [c.lost, "lost"],
    [c.userVisibleDuplicates, "user-visible duplicates"],
    [c.orderViolations, "order violations"],
    [c.wrongAnswer, "wrong answers"],
    [c.notAcknowledged, "not acknowledged"],
    [c.pendingAtEnd, "pending at end"],
    [c.deadLettersWithoutReason, "dead letters without reason"],
    [c.foreignKeyViolations, "foreign-key violations"],
  ];
  return [
    ...(c.injected > 0 && c.acknowledged > 0
      ? []
      : [`nothing checked (injected ${c.injected}, acknowledged ${c.acknowledged})`]),
    ...counts.filter(([n]) => n !== 0).map(([n, what]) => `${what} ${n}`),
    ...(c.integrityCheck === "ok" ? [] : [`integrity ${c.integrityCheck}`]),
    ...(r.drained ? [] : ["drain timed out"]),
    ...Object.entries(r.midSendKills ?? {}).filter(([, n]) => !(n > 0))
      .map(([m]) => `no WhatsApp agent killed mid-send (${m})`),
  ];
}

/** Whether every guarantee held: no `failures`. */
export function passed(r: Pick<SoakResult, "report" | "drained" | "midSendKills">): boolean {
  return failures(r).length === 0;
}

/** The checker's counts as printed lines. */
export function formatReport(r: SoakResult): string {
  const c = r.report;
  const kinds = (a: ChaosEvent["action"]) => r.chaos.filter((e) => e.action === a).length;
  const killed = r.chaos.filter((e) => e.action === "kill").map((e) => e.target);
  const cut = r.chaos.filter((e) => e.action === "cut-send").map((e) => `${e.target} (${e.mode})`);
  const midSend = `${formatMidSend(r.midSendKills)}${cut.length > 0 ? ` (${cut.join(", ")})` : ""}`;
  return [
    `chaos: ${kinds("kill")} kill -9 (${[...new Set(killed)].map((n) => `${n} ×${killed.filter((k) => k === n).length}`).join(", ")}), ` +
    `${kinds("recycle")} SIGTERM recycles, ${kinds("burst-start")} provider failure bursts; starts per agent ${JSON.stringify(r.starts)}`,
    `WhatsApp agents killed mid-send: ${midSend}`,
    `injected ${c.injected}, acknowledged ${c.acknowledged}, not acknowledged ${c.notAcknowledged}, redelivered after ack ${c.redeliveredAfterAck}`,
    `answered ${c.answered} (after a fallback notice ${c.answeredAfterNotice}), dead-lettered ${c.deadLettered} (with a reason ${c.deadLettered - c.deadLetteredWithoutReason}, WITHOUT ONE ${c.deadLetteredWithoutReason}; no notice either ${c.deadLetteredWithoutNotice}), pending at end ${c.pendingAtEnd}`,
    `LOST ${c.lost} (at ingress ${c.lostAtIngress}), USER-VISIBLE DUPLICATES ${c.userVisibleDuplicates} (answers ${c.duplicateAnswers}, notices ${c.duplicateNotices}, unexpected ${c.unexpected}), ORDER VIOLATIONS ${c.orderViolations} over ${c.chats} chats, wrong answers ${c.wrongAnswer}`,
    `notices ${c.notices} (a fallback, then a "working on it" on the retry: ${c.fallbackThenWorking}), answered together with their burst (coalesced) ${c.coalesced}, received messages ${c.receivedMessages}, attributed via an unknown-outcome ledger entry ${c.attributedViaUnknownLedger}`,
    `integrity_check ${c.integrityCheck}, foreign_key_check ${c.foreignKeyViolations} rows, dead letters ${c.deadLetters} (without reason ${c.deadLettersWithoutReason})`,
    `inject ${Math.round(r.injectSeconds)} s, drain ${Math.round(r.drainSeconds)} s${r.drained ? "" : " (TIMED OUT)"}`,
    ...(c.lostExamples.length > 0 ? [`lost examples: ${JSON.stringify(c.lostExamples)}`] : []),
    ...(c.unexpectedExamples.length > 0 ? [`unexpected examples: ${JSON.stringify(c.unexpectedExamples)}`] : []),
  ].join("\n");
}

/** Mid-send kills per mode, e.g. "lost 2, reached 2"; "none asked" without them. */
export function formatMidSend(kills: SoakResult["midSendKills"]): string {
  return kills === undefined ? "none asked" : Object.entries(kills).map(([m, n]) => `${m} ${n}`).join(", ");
}
