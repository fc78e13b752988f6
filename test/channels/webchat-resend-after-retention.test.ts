// A web chat message resent after retention purged its chat-inbox row, within the bus's 8-day dedup window (the
// page's retry of a POST whose 202 it never saw, a client re-posting an id): the bus drops it as a duplicate, and
// ingress must not bring the row back `pending` with the user's text (endless "typing…", an unanswered line in the
// history, the text kept another retentionDays). Real web chat and orchestrator on one store, one injected clock.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { SESSION_HEADER } from "../../src/agents/webchat/page.ts";
import { INBOUND_TOPIC } from "../../src/bus/envelopes.ts";
import { REDACTED_PAYLOAD } from "../../src/bus/mod.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { until } from "./harness.ts";

const GROQ_KEY = "gsk_test_webchat_resend_123456";
const DAY = 86_400_000;
const SESSION = "6f1c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f";
const MESSAGE_ID = "00000000-0000-4000-8000-000000000001";
const TEXT = "Can you deliver to 12 Elm Street, flat 3, on Sunday?";

let dir: string;
let cleanup: () => Promise<void>;
let groq: FakeGroq;
let config: Config;
let webUrl: string;
const running = new Map<string, RunningAgent>();
let offset = 0;
const started = Date.now();
const now = () => Date.UTC(2026, 10, 30, 12) + offset + (Date.now() - started);

const start = async (name: string) =>
  running.set(name, await runTestAgent({ config, name, secrets: { GROQ_KEY }, now }));

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-webchat-resend-retention-"));
  groq = await startFakeGroq({ apiKey: GROQ_KEY });
  const [orchPort, webPort] = await freePorts(2);
  webUrl = `http://127.0.0.1:${webPort}`;
  config = loadConfig(JSON.stringify({
    store: { url: `file:${join(dir, "r.db")}` },
    roles: { support: { kind: "support", systemPrompt: "Be nice." } },
    agents: [
      { name: "orchestrator", kind: "orchestrator", port: orchPort },
      { name: "web", kind: "webchat", role: "support", port: webPort, experience: { coalesce: { enabled: false } } },
    ],
    router: {
      providers: { groq: { kind: "groq", baseUrl: groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY" } },
      chain: ["groq"],
    },
    conversation: { retentionDays: 1 },
    cache: { enabled: false },
  }), { GROQ_KEY });
  await start("web");
  await start("orchestrator");
}, 60_000);

afterAll(async () => {
  for (const r of [...running.values()].reverse()) await r.stop();
  await groq?.close();
  await cleanup?.();
});

const post = (id = MESSAGE_ID, text = TEXT) =>
  fetch(`${webUrl}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ session: SESSION, id, text }),
  });
const api = async (path: string) => (await fetch(`${webUrl}${path}`, { headers: { [SESSION_HEADER]: SESSION } })).json();
const rows = async (sql: string) => (await running.get("web")!.store.client.execute(sql)).rows.map((r) => ({ ...r }));

describe("a web chat message resent after retention purged its inbox row", () => {
  it("is not stored again: no pending row with the user's text, no endless 'typing…', not shown as a new unanswered line", async () => {
    expect((await post()).status).toBe(202);
    await until(async () => (await api("/api/replies?after=0")).replies.length === 1, 15_000, "the answer");
    expect(await rows("SELECT state FROM chat_inbox")).toEqual([{ state: "answered" }]);

    // Two days later (retentionDays 1): the orchestrator's pass at start purges the row and redacts the bus payload.
    offset += 2 * DAY;
    await running.get("orchestrator")!.stop();
    await start("orchestrator");
    await until(async () => (await rows("SELECT seq FROM chat_inbox")).length === 0, 15_000, "the inbox purge");
    await until(
      async () =>
        (await rows(`SELECT payload FROM bus_messages WHERE topic = '${INBOUND_TOPIC}'`))
          .every((r) => r["payload"] === REDACTED_PAYLOAD),
      15_000,
      "the bus redaction",
    );
    const calls = groq.requests.length;

    // The page's retry of that POST arrives now (within the 8-day dedup window): a duplicate on the bus.
    expect((await post()).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1_500)); // a turn, if there were one, would have run by now
    expect(groq.requests.length).toBe(calls); // nothing answers it (the bus dropped it)
    expect(await rows(`SELECT count(*) AS n FROM bus_messages WHERE topic = '${INBOUND_TOPIC}'`)).toEqual([{ n: 1 }]);

    const history = await api("/api/history");
    const seen = {
      inboxRows: await rows("SELECT state, text FROM chat_inbox"),
      pageShowsTyping: (await api("/api/replies?after=0")).pending,
      historyMine: history.lines.filter((l: { from: string }) => l.from === "me").map((l: { text: string }) => l.text),
    };
    expect(seen).toEqual({ inboxRows: [], pageShowsTyping: false, historyMine: [] });

    // A new message of the same chat still gets its row and its answer.
    expect((await post("00000000-0000-4000-8000-000000000002", "And on Monday?")).status).toBe(202);
    // (The first answer went with retention: the page's replies hold only the new one.)
    await until(async () => (await api("/api/replies?after=0")).replies.length === 1, 15_000, "the new answer");
    expect(await rows("SELECT state, text FROM chat_inbox")).toEqual([{ state: "answered", text: "And on Monday?" }]);
  }, 60_000);
});
