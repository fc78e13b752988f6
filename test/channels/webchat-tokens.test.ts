// The web chat's daily tokens per client address (RELIABILITY.md F3): a browser picks its own session, so the
// per-user budget alone lets one client open sessions for more tokens. The web chat and the orchestrator real, in
// this process on one store, sharing one injected clock; the fake Groq reporting usage.
import { Buffer } from "node:buffer";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAgent } from "../../src/agents/mod.ts";
import { SESSION_HEADER } from "../../src/agents/webchat/page.ts";
import { loadConfig } from "../../src/config.ts";
import { INBOUND_TOPIC } from "../../src/bus/envelopes.ts";
import { createLogger } from "../../src/log.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { until } from "./harness.ts";

const GROQ_KEY = "gsk_test_webchat_tokens_123456";
const LIMITED = "You've used today's answers. Come back tomorrow.";
const DAY_MS = 86_400_000;
// Each answer here uses 49 tokens (the fake Groq's usage: the prompt's characters / 4 + 8, plus the reply's words;
// the role's system prompt is most of it): the second answer of an address crosses 75 (the call that crosses the
// budget is let through), the third is refused.
const ADDRESS_TOKENS = 75;

let dir: string;
let cleanup: () => Promise<void>;
let groq: FakeGroq;
let webUrl: string;
const running: RunningAgent[] = [];
const logs: string[] = [];
// Noon UTC, then as much later as the test has run; `nextDay()` moves both agents a day on.
let dayOffset = 0;
const started = Date.now();
const now = () => Date.UTC(2026, 10, 30, 12) + dayOffset + (Date.now() - started);

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-webtokens-"));
  groq = await startFakeGroq({ apiKey: GROQ_KEY });
  const [orchPort, webPort] = await freePorts(2);
  webUrl = `http://127.0.0.1:${webPort}`;
  const config = loadConfig(JSON.stringify({
    store: { url: `file:${join(dir, "w.db")}` },
    roles: { support: { kind: "support", systemPrompt: "Be nice." } },
    agents: [
      { name: "orchestrator", kind: "orchestrator", port: orchPort },
      {
        name: "web",
        kind: "webchat",
        role: "support",
        port: webPort,
        webchat: { clientAddressHeader: "x-forwarded-for", perAddressDailyTokens: ADDRESS_TOKENS },
        experience: { coalesce: { enabled: false } },
      },
    ],
    router: {
      providers: { groq: { kind: "groq", baseUrl: groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY" } },
      chain: ["groq"],
    },
    conversation: { tokenLimitedText: LIMITED },
    cache: { enabled: false },
  }), { GROQ_KEY });
  const log = (agent: string) => createLogger({ agent, secrets: [GROQ_KEY], write: (l) => logs.push(l) });
  for (const name of ["web", "orchestrator"]) {
    running.push(await runTestAgent({ config, name, secrets: { GROQ_KEY }, log: log(name), now }));
  }
}, 60_000);

afterAll(async () => {
  for (const r of running.reverse()) await r.stop();
  await groq?.close();
  await cleanup?.();
});

const modelCalls = () => groq.requests.filter((r) => r.path.endsWith("/chat/completions")).length;
let n = 0;

/** A new session's first message from `address` (the proxy's last entry); resolves with the reply the page gets. */
async function askFrom(address: string, text: string): Promise<string> {
  const session = crypto.randomUUID();
  const res = await fetch(`${webUrl}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": `203.0.113.9, ${address}` },
    body: JSON.stringify({ session, id: `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`, text }),
  });
  expect(res.status).toBe(202);
  let replies: { text: string }[] = [];
  await until(async () => {
    const r = await fetch(`${webUrl}/api/replies?after=0`, { headers: { [SESSION_HEADER]: session } });
    replies = (await r.json()).replies;
    return replies.length > 0;
  }, 15_000, `the reply to "${text}"`);
  return replies[0]!.text;
}

describe("web chat: daily tokens per client address", () => {
  it("sessions of one address share its day's tokens; another address is unaffected; the next day it resets", async () => {
    expect(await askFrom("198.51.100.7", "What is plan A?")).toBe("Hello from the fake Groq.");
    expect(await askFrom("198.51.100.7", "What is plan B?")).toBe("Hello from the fake Groq.");
    expect(modelCalls()).toBe(2);
    // A third session of the same client (written IPv4-mapped by the proxy): the limit's notice, no model call.
    expect(await askFrom("::ffff:198.51.100.7", "What is plan C?")).toBe(LIMITED);
    expect(modelCalls()).toBe(2);
    // Another client is answered.
    expect(await askFrom("198.51.100.8", "What is plan D?")).toBe("Hello from the fake Groq.");
    expect(modelCalls()).toBe(3);
    dayOffset += DAY_MS;
    expect(await askFrom("198.51.100.7", "What is plan E?")).toBe("Hello from the fake Groq.");
    expect(modelCalls()).toBe(4);
  });

  it("the bus carries a hash of the address, the same for every session of the client; the address is never stored or logged", async () => {
    const store = running.find((r) => r.store)!.store;
    const rows = await store.client.execute({
      sql: "SELECT payload ->> 'clientAddress' AS a, payload ->> 'text' AS t FROM bus_messages WHERE topic = ? ORDER BY id",
      args: [INBOUND_TOPIC],
    });
    const hashes = rows.rows.map((r) => String(r["a"]));
    expect(hashes[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set([hashes[0], hashes[1], hashes[2], hashes[4]]).size).toBe(1);
    expect(hashes[3]).not.toBe(hashes[0]);
    const bytes = Buffer.concat(await Promise.all(["w.db", "w.db-wal"].map((f) => readFile(join(dir, f)).catch(() => Buffer.alloc(0)))))
      .toString("latin1");
    for (const address of ["198.51.100.7", "198.51.100.8"]) {
      expect(bytes).not.toContain(address);
      expect(logs.join("\n")).not.toContain(address);
    }
  });
});
