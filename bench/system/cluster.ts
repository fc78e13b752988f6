/**
 * The whole system as users run it, for the system benchmark, the chaos soak and the security sweep: fake
 * Telegram (one Bot API server per bot token), fake Graph (one per WhatsApp number), fake Groq and Anthropic,
 * optionally the real llama.cpp sidecar, one config file and one database, and every agent as its own
 * `aideazz agent <name>` process under Deno (output appended to `<dir>/logs/<name>.log`), at the CPU priority its
 * systemd unit would give it (src/ops/priority.ts; nice values, as in `aideazz up`). Agents can be killed,
 * recycled and restarted the way systemd would (`supervise`). Runs under Deno (bench, soak) and Node (vitest).
 *
 * @module
 */
import { V8_FLAGS } from "../../src/v8-flags.ts";
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type FakeAnthropic, startFakeAnthropic } from "../../test/fakes/anthropic.ts";
import { type FakeGraph, startFakeGraph } from "../../test/fakes/graph.ts";
import { type FakeGroq, startFakeGroq } from "../../test/fakes/groq.ts";
import { type FakeTelegram, startFakeTelegram } from "../../test/fakes/telegram.ts";
import { type LlamaServer, startLlamaServer } from "../../test/support/llama-server.ts";
import { type AgentConfig, configSchema } from "../../src/config.ts";
import { niced, nicesOf } from "../../src/ops/mod.ts";
import { createServer } from "node:net";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const denoBin = `${repoRoot}node_modules/.bin/deno`;
const mainTs = `${repoRoot}src/main.ts`;

export type AgentKind = "telegram" | "whatsapp" | "orchestrator" | "analytics";

export interface FaqEntry {
  id: string;
  questions: string[];
  answer: string;
}

export interface ClusterOptions {
  /** Work directory (config, database, FAQ, logs). */
  dir: string;
  telegram: number;
  whatsapp: number;
  analytics?: boolean;
  faq: FaqEntry[];
  /** Start the real llama.cpp sidecar (tiny model) and put it last in every chain. Default false. */
  llama?: boolean;
  /**
   * Platform send pacing. "raised": no per-chat gap and 100,000 msg/s (benchmarks measure the system, not the
   * platforms' limits); "platform": the defaults (Telegram 1 s per chat / 30 per bot, WhatsApp 6 s per user).
   * A number: that many ms per chat/user and 1,000 msg/s.
   */
  pacing?: "raised" | "platform" | number;
  /** Router config; default: groq (simple), claude (complex, high-value), llama last when started. */
  router?: (urls: ProviderUrls) => Record<string, unknown>;
  /** Last word on the config JSON before it is written. */
  patchConfig?: (config: Record<string, unknown>) => void;
  /**
   * Agents that are up once their /health answers at all: ones a test makes unhealthy on purpose (a Telegram API
   * it cannot reach, so its webhook cannot be registered).
   */
  answering?: readonly string[];
  /** Clock the fake platforms stamp replies with (default Date.now). */
  clock?: () => number;
  /** Restart an agent that exits while wanted (like systemd's Restart=): delay after a crash. Default off. */
  supervise?: { crashDelayMs: number };
  /** Extra environment for every agent. */
  env?: Record<string, string>;
  /** More secrets to generate (by environment variable name), e.g. for providers a test adds. */
  extraSecrets?: string[];
  /** Extra Deno flags for one agent's process (e.g. `--v8-flags=--prof,--logfile=…` to profile it). */
  denoFlags?: (name: string) => string[];
  /** V8 flags of every agent; default the production ones (src/v8-flags.ts), as the binary runs them. */
  v8Flags?: readonly string[];
  /** Extra fields of every channel agent's config entry (e.g. `experience`). */
  channelFields?: (kind: "telegram" | "whatsapp") => Record<string, unknown>;
  /** Extra fields of every WhatsApp agent's `whatsapp` section (e.g. `statusWaitS`). */
  whatsappFields?: Record<string, unknown>;
  /** The fake Graph APIs post each message's status webhooks (sent, delivered) to their agent. Default off. */
  statusWebhooks?: boolean;
}

export interface ProviderUrls {
  groq: string;
  anthropic: string;
  llama: string | undefined;
}

export interface AgentProcess {
  readonly name: string;
  readonly kind: AgentKind;
  readonly port: number;
  readonly logPath: string;
  /** Pid of the running process, or undefined. */
  pid(): number | undefined;
  /** Starts of this agent (the first included). */
  starts(): number;
  /** Exits seen, with how they ended. */
  exits(): { code: number | null; signal: string | null; at: number }[];
}

export interface Cluster {
  readonly dir: string;
  readonly configPath: string;
  readonly dbPath: string;
  readonly secrets: Readonly<Record<string, string>>;
  readonly agents: ReadonlyMap<string, AgentProcess>;
  /** Fake Bot API per telegram agent. */
  readonly telegram: ReadonlyMap<string, FakeTelegram>;
  /** Fake Graph API per whatsapp agent. */
  readonly graph: ReadonlyMap<string, FakeGraph>;
  readonly groq: FakeGroq;
  readonly anthropic: FakeAnthropic;
  readonly llama: LlamaServer | undefined;
  readonly phoneNumberIds: ReadonlyMap<string, string>;
  readonly config: Record<string, unknown>;
  /** Starts every agent (channels first) and waits until each answers /health 200. */
  startAll(timeoutMs?: number): Promise<void>;
  start(name: string, timeoutMs?: number): Promise<void>;
  /** Sends a signal. With `supervise`, SIGKILL = crash (restart after the delay), SIGTERM = recycle (restart at once). */
  signal(name: string, signal: "SIGKILL" | "SIGTERM"): boolean;
  waitHealthy(name: string, timeoutMs?: number): Promise<void>;
  /** Graceful stop of one agent (SIGTERM, SIGKILL after `timeoutMs`); it is not restarted. */
  stop(name: string, timeoutMs?: number): Promise<void>;
  /** Graceful stop of every agent (SIGTERM, SIGKILL after `timeoutMs`); supervision ends. */
  stopAll(timeoutMs?: number): Promise<void>;
  /** Stops agents, fakes and the sidecar; from then on no agent starts (`start` throws). Called again: the same. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fresh, distinctive secret values (each one greppable by value; Telegram's secret token charset). */
function makeSecrets(telegram: number, whatsapp: number): Record<string, string> {
  const r = () => crypto.randomUUID().replaceAll("-", "");
  const s: Record<string, string> = {
    GROQ_API_KEY: `gsk_${r()}`,
    ANTHROPIC_API_KEY: `sk-ant-api03-${r()}`,
    ORCH_API_KEY: `orch_${r()}`,
  };
  for (let i = 1; i <= telegram; i++) {
    s[`TG${i}_TOKEN`] = `${7_000_000_000 + i}:AAH${r()}`;
    s[`TG${i}_SECRET`] = `whsec_${r()}`;
  }
  for (let i = 1; i <= whatsapp; i++) {
    s[`WA${i}_APP_SECRET`] = `appsec${r()}`;
    s[`WA${i}_TOKEN`] = `EAAG${r()}${r()}`;
    s[`WA${i}_VERIFY`] = `verify${r()}`;
  }
  return s;
}

function defaultRouter(urls: ProviderUrls): Record<string, unknown> {
  const local = urls.llama ? ["local"] : [];
  return {
    deadlineMs: 20_000,
    providers: {
      groq: { kind: "groq", baseUrl: urls.groq, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_API_KEY", maxConcurrent: 64 },
      claude: {
        kind: "anthropic",
        baseUrl: urls.anthropic,
        model: "claude-haiku-4-5",
        apiKeyEnv: "ANTHROPIC_API_KEY",
        maxConcurrent: 64,
      },
      ...(urls.llama ? { local: { kind: "llama-cpp", baseUrl: urls.llama, model: "tiny", timeoutMs: 10_000 } } : {}),
    },
    tiers: { simple: ["groq", ...local], complex: ["claude", "groq", ...local], "high-value": ["claude", "groq", ...local] },
    budget: { dailyUsd: 1_000, monthlyUsd: 10_000, prices: { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } } },
  };
}

/**
 * Channel settings that turn the conversation-experience features off (burst coalescing waits for a quiet chat
 * before answering; Telegram streams model replies as message edits): `{ experience: … }` when this version's
 * config has them, else `{}`.
 */
export function experienceOff(kind: "telegram" | "whatsapp"): Record<string, unknown> {
  if (!experienceConfigurable) return {};
  return {
    experience: kind === "telegram"
      ? { coalesce: { enabled: false }, stream: { enabled: false }, notice: { enabled: false } }
      : { coalesce: { enabled: false }, notice: { enabled: false } },
  };
}

/** Whether channel agents take an `experience` section (checked against the config schema of this tree). */
export const experienceConfigurable: boolean = configSchema.safeParse({
  agents: [{
    name: "t",
    kind: "telegram",
    port: 1,
    telegram: { tokenEnv: "T", secretTokenEnv: "S" },
    experience: { coalesce: { enabled: false } },
  }],
}).success;

/** GET /health → status, or undefined when nothing answers within 2 s. */
export async function healthStatus(port: number): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM of a process in MiB (undefined when it is gone). */
export async function readMemory(pid: number): Promise<{ rssMb: number; hwmMb: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? NaN);
    return { rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
  } catch {
    return undefined;
  }
}

/**
 * PSS of a process in MiB (undefined when it is gone): each page it shares (the `deno` binary's, libSQL's) divided
 * among the processes mapping it, so the agents' PSS add up to the memory they use together. Read once, at idle:
 * the kernel walks the process's page tables for it.
 */
export async function readPssMb(pid: number): Promise<number | undefined> {
  try {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
    return Number(/^Pss:\s+(\d+) kB$/m.exec(rollup)?.[1] ?? NaN) / 1024;
  } catch {
    return undefined;
  }
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  // What started before a later step threw (a bad config patch, a failed migration) is stopped again: a failed
  // start leaves no server listening and no sidecar process running.
  const started: (() => Promise<void>)[] = [];
  try {
    return await setUp(opts, started);
  } catch (err) {
    for (const stop of started.reverse()) await stop().catch(() => {});
    throw err;
  }
}

async function setUp(opts: ClusterOptions, started: (() => Promise<void>)[]): Promise<Cluster> {
  const logDir = join(opts.dir, "logs");
  await mkdir(logDir, { recursive: true });
  const secrets = makeSecrets(opts.telegram, opts.whatsapp);
  for (const name of opts.extraSecrets ?? []) secrets[name] = `key_${crypto.randomUUID().replaceAll("-", "")}`;
  const clock = opts.clock ?? Date.now;
  const dbPath = join(opts.dir, "system.db");
  const configPath = join(opts.dir, "aideazz.json");
  const faqPath = join(opts.dir, "faq.json");
  await writeFile(faqPath, JSON.stringify({ entries: opts.faq }));

  const telegram = new Map<string, FakeTelegram>();
  const graph = new Map<string, FakeGraph>();
  const phoneNumberIds = new Map<string, string>();
  const groq = await startFakeGroq({
    apiKey: secrets["GROQ_API_KEY"]!,
    requestsPerMinute: 1_000_000,
    requestsPerDay: 100_000_000,
    tokensPerMinute: 1_000_000_000,
  });
  started.push(() => groq.close());
  const anthropic = await startFakeAnthropic({
    apiKey: secrets["ANTHROPIC_API_KEY"]!,
    requestsPerMinute: 1_000_000,
    tokensPerMinute: 1_000_000_000,
  });
  started.push(() => anthropic.close());
  const llama = opts.llama ? await startLlamaServer({ readyTimeoutMs: 60_000 }) : undefined;
  if (llama) started.push(() => llama.stop());

  const taken = new Set<number>();
  const uniquePort = () => pickPort(taken);
  const pacing = opts.pacing ?? "raised";
  const gap = pacing === "raised" ? 0 : typeof pacing === "number" ? pacing : undefined;
  const rate = pacing === "raised" ? 100_000 : 1_000;
  const specs: { name: string; kind: AgentKind; port: number; json: Record<string, unknown> }[] = [];
  for (let i = 1; i <= opts.telegram; i++) {
    const name = `tg${i}`;
    const fake = await startFakeTelegram({ token: secrets[`TG${i}_TOKEN`]!, now: clock });
    telegram.set(name, fake);
    started.push(() => fake.close());
    const port = await uniquePort();
    specs.push({
      name,
      kind: "telegram",
      port,
      json: {
        name,
        kind: "telegram",
        role: "support",
        port,
        telegram: {
          mode: "webhook",
          tokenEnv: `TG${i}_TOKEN`,
          secretTokenEnv: `TG${i}_SECRET`,
          apiRoot: fake.apiRoot,
          ...(gap === undefined ? {} : { pacing: { perChatMs: gap, perSecond: rate } }),
        },
        ...opts.channelFields?.("telegram"),
      },
    });
  }
  for (let i = 1; i <= opts.whatsapp; i++) {
    const name = `wa${i}`;
    const fake = await startFakeGraph({ accessToken: secrets[`WA${i}_TOKEN`]!, now: clock });
    graph.set(name, fake);
    started.push(() => fake.close());
    const phoneNumberId = String(106_540_352_242_900 + i);
    phoneNumberIds.set(name, phoneNumberId);
    const port = await uniquePort();
    if (opts.statusWebhooks) {
      const url = `http://127.0.0.1:${port}/whatsapp/webhook`;
      fake.deliverStatuses({ url, appSecret: secrets[`WA${i}_APP_SECRET`]! });
    }
    specs.push({
      name,
      kind: "whatsapp",
      port,
      json: {
        name,
        kind: "whatsapp",
        role: "support",
        port,
        whatsapp: {
          phoneNumberId,
          appSecretEnv: `WA${i}_APP_SECRET`,
          accessTokenEnv: `WA${i}_TOKEN`,
          verifyTokenEnv: `WA${i}_VERIFY`,
          graphBaseUrl: fake.baseUrl,
          ...(gap === undefined ? {} : { pacing: { perUserMs: gap, perSecond: rate } }),
          ...opts.whatsappFields,
        },
        ...opts.channelFields?.("whatsapp"),
      },
    });
  }
  const orchPort = await uniquePort();
  specs.push({
    name: "orchestrator",
    kind: "orchestrator",
    port: orchPort,
    json: { name: "orchestrator", kind: "orchestrator", port: orchPort, apiKeyEnv: "ORCH_API_KEY" },
  });
  if (opts.analytics !== false) {
    const port = await uniquePort();
    specs.push({ name: "analytics", kind: "analytics", port, json: { name: "analytics", kind: "analytics", port } });
  }

  const urls: ProviderUrls = { groq: groq.url, anthropic: anthropic.url, llama: llama ? `${llama.url}/v1` : undefined };
  const config: Record<string, unknown> = {
    store: { url: `file:${dbPath}` },
    roles: {
      support: {
        kind: "support",
        systemPrompt: "You are the support assistant of Example Co. Answer briefly and only about Example Co.",
        faq: faqPath,
        greeting: "Hi! I'm Example Co's assistant.",
      },
    },
    agents: specs.map((s) => s.json),
    router: (opts.router ?? defaultRouter)(urls),
  };
  opts.patchConfig?.(config);
  await writeFile(configPath, JSON.stringify(config, null, 2));
  // The CPU priorities the units give the agents (CPUWeight=, src/ops/priority.ts), as nice values: the agents
  // here share one cgroup.
  const nices = nicesOf(config["agents"] as Pick<AgentConfig, "name" | "kind" | "limits">[]);

  // One migration before the agents start (they would each migrate too; this keeps start-up quiet and quick).
  const migrateLog = join(logDir, "migrate.log");
  await runToEnd(denoBin, ["run", "-A", mainTs, "migrate", "--db", `file:${dbPath}`], migrateLog);

  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    HOME: process.env["HOME"] ?? "/root",
    NO_COLOR: "1",
    ...(process.env["DENO_DIR"] ? { DENO_DIR: process.env["DENO_DIR"] } : {}),
    ...secrets,
    ...opts.env,
  };

  interface Proc extends AgentProcess {
    child: ChildProcess | undefined;
    wanted: boolean;
    exited: Promise<void>;
    startCount: number;
    exitList: { code: number | null; signal: string | null; at: number }[];
    restartTimer: ReturnType<typeof setTimeout> | undefined;
  }
  const procs = new Map<string, Proc>();
  /** Set by close(): no agent starts after it, and waits for one end (a run given up must leave none running). */
  let closing = false;
  let closed: Promise<void> | undefined;
  const refuseClosed = (name: string) => {
    if (closing) throw new Error(`the cluster is closed: agent ${name} is not started`);
  };

  const launch = (p: Proc) => {
    const fd = openSync(p.logPath, "a");
    // One --v8-flags: the production flags joined with an agent's own (e.g. the profiler's).
    const extra = opts.denoFlags?.(p.name) ?? [];
    const v8 = [...(opts.v8Flags ?? V8_FLAGS), ...extra.filter((f) => f.startsWith("--v8-flags=")).map((f) => f.slice(11))];
    const flags = [...extra.filter((f) => !f.startsWith("--v8-flags=")), ...(v8.length ? [`--v8-flags=${v8.join(",")}`] : [])];
    const child = spawn(...niced(nices.get(p.name)!, denoBin, ["run", "-A", ...flags, mainTs, "agent", p.name, "--config", configPath]), {
      cwd: repoRoot,
      env,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    p.child = child;
    p.startCount++;
    p.exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        p.exitList.push({ code, signal, at: Date.now() });
        if (p.child === child) p.child = undefined;
        resolve();
        if (!p.wanted || closing || !opts.supervise) return;
        // systemd: Restart= after RestartSec for a crash; a recycle (clean exit after SIGTERM) starts again at once.
        const delay = code === 0 ? 0 : opts.supervise.crashDelayMs;
        p.restartTimer = setTimeout(() => {
          p.restartTimer = undefined;
          if (p.wanted && !closing && !p.child) launch(p);
        }, delay);
      });
    });
  };

  for (const s of specs) {
    const p: Proc = {
      name: s.name,
      kind: s.kind,
      port: s.port,
      logPath: join(logDir, `${s.name}.log`),
      child: undefined,
      wanted: false,
      exited: Promise.resolve(),
      startCount: 0,
      exitList: [],
      restartTimer: undefined,
      pid: () => p.child?.pid,
      starts: () => p.startCount,
      exits: () => [...p.exitList],
    };
    procs.set(s.name, p);
  }

  const get = (name: string): Proc => {
    const p = procs.get(name);
    if (!p) throw new Error(`no agent named "${name}" in this cluster`);
    return p;
  };

  const waitHealthy = async (name: string, timeoutMs = 60_000) => {
    const p = get(name);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      refuseClosed(name);
      const status = await healthStatus(p.port);
      if (status === 200 || (status !== undefined && opts.answering?.includes(name))) return;
      await sleep(100);
    }
    const log = await readFile(p.logPath, "utf8").catch(() => "");
    throw new Error(`agent ${name} not healthy within ${timeoutMs} ms; its log ends with:\n${log.slice(-2_000)}`);
  };

  const start = async (name: string, timeoutMs?: number) => {
    const p = get(name);
    refuseClosed(name);
    p.wanted = true;
    if (!p.child) launch(p);
    await waitHealthy(name, timeoutMs);
  };

  const stopOne = async (p: Proc, timeoutMs: number) => {
    p.wanted = false;
    if (p.restartTimer) clearTimeout(p.restartTimer);
    const child = p.child;
    if (!child) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    await p.exited;
    clearTimeout(killer);
  };

  const cluster: Cluster = {
    dir: opts.dir,
    configPath,
    dbPath,
    secrets,
    agents: procs,
    telegram,
    graph,
    groq,
    anthropic,
    llama,
    phoneNumberIds,
    config,
    async startAll(timeoutMs = 90_000) {
      // Channels first: their ingress subscribes the orchestrator's group, so nothing stored is without a receiver.
      const order = [...procs.values()].sort((a, b) => rank(a.kind) - rank(b.kind));
      for (const p of order) {
        refuseClosed(p.name);
        p.wanted = true;
        if (!p.child) launch(p);
      }
      await Promise.all(order.map((p) => waitHealthy(p.name, timeoutMs)));
    },
    start,
    signal(name, signal) {
      const child = get(name).child;
      return child ? child.kill(signal) : false;
    },
    waitHealthy,
    stop: (name, timeoutMs = 20_000) => stopOne(get(name), timeoutMs),
    async stopAll(timeoutMs = 20_000) {
      await Promise.all([...procs.values()].map((p) => stopOne(p, timeoutMs)));
    },
    close() {
      closing = true;
      return closed ??= (async () => {
        await cluster.stopAll();
        for (const t of telegram.values()) await t.close();
        for (const g of graph.values()) await g.close();
        await groq.close();
        await anthropic.close();
        await llama?.stop();
      })();
    },
  };
  return cluster;
}

/**
 * A port for an agent: from below the kernel's ephemeral range (32768–60999 on Linux), where a port that was free
 * a moment ago could be taken by any outgoing connection (the load generator opens hundreds) before the agent
 * binds it; not one in `taken`.
 */
export async function pickPort(taken = new Set<number>()): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!taken.has(port) && (await canBind(port))) return taken.add(port), port;
  }
}

/** True when nothing listens on 127.0.0.1:`port` right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function rank(kind: AgentKind): number {
  return kind === "telegram" || kind === "whatsapp" ? 0 : kind === "orchestrator" ? 1 : 2;
}

/** Runs a command to its end with output appended to `logPath`; throws on a non-zero exit. */
export function runToEnd(command: string, args: string[], logPath: string): Promise<void> {
  const fd = openSync(logPath, "a");
  const child = spawn(command, args, { cwd: repoRoot, stdio: ["ignore", fd, fd], env: { ...process.env, NO_COLOR: "1" } });
  closeSync(fd);
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(" ")} exited ${code}; see ${logPath}`))));
  });
}
