// RELIABILITY.md F1: after a soak-like run with induced failures, no configured secret appears — raw, URL-encoded
// or JSON-escaped — in any agent's log, in the output of the operator commands, in the database file or its -wal,
// or in any message a user received. Failures induced while the secrets are in use: a provider whose host does not
// resolve (http://provider.invalid), one whose port refuses connections, one whose TLS handshake fails (https to a
// plain-HTTP port), one that never answers (timeouts), a Telegram Bot API root whose TLS handshake fails (the bot
// token sits in its URLs, and the fetch error quotes the URL), a Graph API host that does not resolve (the access
// token is a header), provider failure bursts, kill -9 and SIGTERM of agents, forged webhooks,
// and the orchestrator's OpenAI-compatible endpoint called with the right and a wrong key. Also searched: what
// every agent serves (/health, /metrics, the dashboard and its JSON) and the operator commands' output.
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { type AddressInfo, createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { denoBin, repoRoot } from "../../bench/system/cluster.ts";
import { runSoak, type SoakResult } from "../../bench/soak/soak.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let result: SoakResult;
let slow: FakeGroq;
let plain: Server;
let plainConnections = 0;
const walCopies: Buffer[] = [];
const outputs: { what: string; text: string }[] = [];

function run(args: string[], env: Record<string, string>): Promise<string> {
  const child = spawn(denoBin, ["run", "-A", `${repoRoot}src/main.ts`, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/root", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolve) => child.once("exit", () => resolve(out)));
}

/** Every form a secret could take in text: raw, URL-encoded, JSON-escaped. */
function forms(secret: string): string[] {
  return [...new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])];
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-f1-"));
  // A port below 1024 where nothing listens: connection refused (an ephemeral port could go to an agent).
  const refusedPort = 9;
  slow = await startFakeGroq({ prefix: "/v1" });
  slow.setDefault({ kind: "hang" });
  // https:// to a port that answers plain HTTP: the TLS handshake fails.
  plain = createServer((socket) => {
    plainConnections++;
    socket.on("error", () => {});
    socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n", () => socket.destroy());
  });
  await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
  const badTls = `https://127.0.0.1:${(plain.address() as AddressInfo).port}`;
  result = await runSoak({
    dir,
    messages: 160,
    chats: 16,
    seconds: 20,
    seed: 7,
    killEveryS: [4, 8],
    recycleEveryS: [5, 10],
    burstEveryS: [3, 6],
    burstLengthS: [2, 4],
    crashDelayMs: 300,
    drainTimeoutS: 15,
    cutSend: false, // 20 s: too short for a WhatsApp agent killed mid-send (test/system/soak.test.ts has both kinds)
    signal: AbortSignal.timeout(210_000), // before the hook's timeout: the run itself stops its agents
    router: (urls) => ({
      deadlineMs: 8_000,
      providers: {
        dns: { kind: "groq", baseUrl: "http://provider.invalid/openai/v1", model: "m", apiKeyEnv: "DNS_API_KEY", timeoutMs: 1_000 },
        refused: { kind: "openai-compatible", baseUrl: `http://127.0.0.1:${refusedPort}/v1`, model: "m", apiKeyEnv: "REFUSED_API_KEY" },
        slow: { kind: "openai-compatible", baseUrl: slow.url, model: "m", apiKeyEnv: "SLOW_API_KEY", timeoutMs: 300 },
        tls: { kind: "openai-compatible", baseUrl: `${badTls}/v1`, model: "m", apiKeyEnv: "TLS_API_KEY" },
        groq: { kind: "groq", baseUrl: urls.groq, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_API_KEY" },
        claude: { kind: "anthropic", baseUrl: urls.anthropic, model: "claude-haiku-4-5", apiKeyEnv: "ANTHROPIC_API_KEY" },
      },
      tiers: {
        simple: ["dns", "refused", "tls", "slow", "groq"],
        complex: ["refused", "dns", "tls", "claude", "groq"],
        "high-value": ["refused", "dns", "tls", "claude", "groq"],
      },
      // A breaker that never opens keeps every failing provider in use for the whole run.
      breaker: { failureThreshold: 1_000_000 },
      retry: { maxAttempts: 1 },
      budget: { prices: { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } } },
    }),
    patchConfig: (config) => {
      const agents = config["agents"] as Record<string, unknown>[];
      const tg2 = agents.find((a) => a["name"] === "tg2")!["telegram"] as Record<string, unknown>;
      tg2["apiRoot"] = badTls;
      tg2["webhookUrl"] = "https://bot.example.com/telegram/webhook"; // setWebhook at start: it fails too
      const wa2 = agents.find((a) => a["name"] === "wa2")!["whatsapp"] as Record<string, unknown>;
      wa2["graphBaseUrl"] = "http://graph.invalid/v21.0";
    },
    extraSecrets: ["DNS_API_KEY", "REFUSED_API_KEY", "SLOW_API_KEY", "TLS_API_KEY"],
    answering: ["tg2"], // its webhook is never registered: /health says so (503)
    afterStart: async (cluster) => {
      const orch = cluster.agents.get("orchestrator")!;
      const base = `http://127.0.0.1:${orch.port}/v1`;
      for (const key of [cluster.secrets["ORCH_API_KEY"]!, "wrong-key-000000"]) {
        const res = await fetch(`${base}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
          body: JSON.stringify({ model: "auto", messages: [{ role: "user", content: "Is order 1 shipped yet?" }] }),
        });
        outputs.push({ what: `openai endpoint (${key.startsWith("wrong") ? "wrong" : "right"} key)`, text: await res.text() });
      }
      // Forged webhooks: wrong secret token, bad signature.
      const tg1 = cluster.agents.get("tg1")!;
      const wa1 = cluster.agents.get("wa1")!;
      await fetch(`http://127.0.0.1:${tg1.port}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "forged" },
        body: "{}",
      }).then((r) => r.text());
      await fetch(`http://127.0.0.1:${wa1.port}/whatsapp/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Hub-Signature-256": `sha256=${"0".repeat(64)}` },
        body: "{}",
      }).then((r) => r.text());
    },
    beforeStop: async (cluster) => {
      walCopies.push(await readFile(`${cluster.dbPath}-wal`).catch(() => Buffer.alloc(0)));
      // What every agent serves: health, metrics; the dashboard and its data.
      const analytics = cluster.agents.get("analytics")!;
      const urls = [...cluster.agents.values()].flatMap((a) => [`http://127.0.0.1:${a.port}/health`, `http://127.0.0.1:${a.port}/metrics`]);
      urls.push(`http://127.0.0.1:${analytics.port}/`, `http://127.0.0.1:${analytics.port}/api/dashboard?window=1h`);
      for (const url of urls) {
        outputs.push({ what: `GET ${url}`, text: await fetch(url).then((r) => r.text(), (e) => String(e)) });
      }
      const env = { ...cluster.secrets };
      for (const args of [["config", "check"], ["health", "--json"], ["bus", "stats"], ["bus", "dlq", "list"], ["trace", "last"], ["stats"]]) {
        outputs.push({ what: `aideazz ${args.join(" ")}`, text: await run([...args, "--config", cluster.configPath], env) });
      }
    },
  });
}, 240_000);

afterAll(async () => {
  await slow?.close();
  await new Promise((resolve) => plain?.close(resolve));
  await cleanup?.();
});

describe("F1: configured secrets never leak", () => {
  it("the run really failed in the ways it was meant to (and the secrets were in use)", async () => {
    const log = async (name: string) => await readFile(join(result.logDir, `${name}.log`), "utf8");
    expect(await log("tg2")).toMatch(/send deferred|setWebhook failed/);
    expect(await log("wa2")).toMatch(/send deferred/);
    expect(slow.requests.length).toBeGreaterThan(0); // timeouts at the slow provider
    expect(await log("orchestrator")).toContain("tls (network)");
    expect(plainConnections).toBeGreaterThan(0); // TLS handshakes refused: the provider's and tg2's
    expect(result.chaos.some((e) => e.action === "kill")).toBe(true);
    expect(outputs.find((o) => o.what.includes("right key"))?.text).toMatch(/choices|error/);
    // The endpoint passes the request's signal on: Deno's warning about its legacy abort must not break the log.
    expect(await log("orchestrator")).not.toContain("Deno.serve:");
    // The slow provider received the configured key: it was really sent while failing.
    expect(slow.requests.some((r) => r.headers["authorization"] === `Bearer ${result.secrets["SLOW_API_KEY"]}`)).toBe(true);
  });

  it("0 hits in every agent log, every operator command's output, the database and its -wal, and every reply", async () => {
    const places: { what: string; text: string }[] = [...outputs];
    for (const f of await readdir(result.logDir)) places.push({ what: `log ${f}`, text: await readFile(join(result.logDir, f), "latin1") });
    places.push({ what: "database file", text: (await readFile(result.dbPath)).toString("latin1") });
    for (const [i, wal] of walCopies.entries()) places.push({ what: `-wal while running #${i}`, text: wal.toString("latin1") });
    places.push({ what: "-wal after stop", text: (await readFile(`${result.dbPath}-wal`).catch(() => Buffer.alloc(0))).toString("latin1") });
    for (const [agent, list] of result.received) {
      places.push({ what: `replies received by ${agent}'s users`, text: list.map((r) => r.text).join("\n") });
    }
    const secrets = Object.entries(result.secrets);
    expect(secrets.length).toBeGreaterThanOrEqual(16);
    const hits: string[] = [];
    for (const { what, text } of places) {
      for (const [name, value] of secrets) {
        if (forms(value).some((f) => text.includes(f))) hits.push(`${name} in ${what}`);
      }
    }
    expect(places.reduce((n, p) => n + p.text.length, 0)).toBeGreaterThan(100_000);
    expect(hits).toEqual([]);
  });
});
