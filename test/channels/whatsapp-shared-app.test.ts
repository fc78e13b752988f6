// Two WhatsApp numbers in one Meta app: Meta posts both numbers' webhooks to the app's one callback URL (unless a
// per-WABA or per-number override is set), so one agent receives the other's messages and statuses. They are the
// other agent's: stored once as its inbound, answered by its role from its number, even when Meta also delivers them
// to that agent's own URL.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { type FakeGraph, signature, startFakeGraph, textPayload } from "../fakes/graph.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { until } from "./harness.ts";

const secrets = { WA_APP_SECRET: "one-app-secret", WA_TOKEN: "EAAJB-shared-app-token", WA_VERIFY: "shared-verify" };
const SALES_PNID = "106540352242922";
const SUPPORT_PNID = "106540352242933";
const QUESTION = "How do I reset my password?";
const SALES_ANSWER = "Our sales team will gladly help.";
const SUPPORT_ANSWER = 'Open the login page and choose "Forgot password".';

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph;
let dbUrl: string;
const running: RunningAgent[] = [];
const ports: Record<string, number> = {};

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-wa-shared-"));
  graph = await startFakeGraph({ accessToken: secrets.WA_TOKEN });
  const faq = async (name: string, answer: string) => {
    const file = join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify({ entries: [{ id: "pw", questions: [QUESTION], answer }] }));
    return file;
  };
  const names = ["orchestrator", "sales", "support"];
  (await freePorts(names.length)).forEach((p, i) => (ports[names[i]!] = p));
  dbUrl = `file:${join(dir, "shared.db")}`;
  const wa = (name: string, phoneNumberId: string) => ({
    name,
    kind: "whatsapp",
    role: name,
    port: ports[name],
    whatsapp: {
      phoneNumberId,
      appSecretEnv: "WA_APP_SECRET",
      accessTokenEnv: "WA_TOKEN",
      verifyTokenEnv: "WA_VERIFY",
      graphBaseUrl: graph.baseUrl,
      webhookPath: `/whatsapp/${name}`,
    },
  });
  const config = loadConfig(
    JSON.stringify({
      store: { url: dbUrl },
      roles: {
        sales: { kind: "support", systemPrompt: "Sell.", faq: await faq("sales", SALES_ANSWER) },
        support: { kind: "support", systemPrompt: "Help.", faq: await faq("support", SUPPORT_ANSWER) },
      },
      agents: [
        { name: "orchestrator", kind: "orchestrator", port: ports["orchestrator"] },
        wa("sales", SALES_PNID),
        wa("support", SUPPORT_PNID),
      ],
    }),
    secrets,
  );
  for (const name of names) running.push(await runTestAgent({ config, name, secrets }));
}, 60_000);

afterAll(async () => {
  for (const r of running.reverse()) await r.stop();
  await graph?.close();
  await cleanup?.();
});

function post(agent: string, payload: unknown): Promise<Response> {
  const body = JSON.stringify(payload);
  return fetch(`http://127.0.0.1:${ports[agent]}/whatsapp/${agent}`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, secrets.WA_APP_SECRET) },
    body,
  });
}

const rows = async (sql: string) => (await running[0]!.store.client.execute(sql)).rows.map((r) => ({ ...r }));

describe("two WhatsApp numbers behind one Meta app's callback URL", () => {
  it("the support number's message posted to the sales agent is stored once as support's, answered by support's role from its number", async () => {
    graph.deliverStatuses({ url: `http://127.0.0.1:${ports["sales"]}/whatsapp/sales`, appSecret: secrets.WA_APP_SECRET });
    const q = textPayload({ id: "wamid.SHARED1", from: "15550001234", body: QUESTION, phoneNumberId: SUPPORT_PNID });
    expect((await post("sales", q)).status).toBe(200);
    await until(() => graph.sent.length >= 1, 20_000, "the answer");
    // Meta delivers it again, now to the support agent's own URL (an override set later, or a retry).
    expect((await post("support", q)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    expect(graph.sent.map((s) => [s.to, s.text])).toEqual([["15550001234", SUPPORT_ANSWER]]);
    const sends = graph.requests.filter((r) => r.body["type"] === "text");
    expect(sends.map((r) => r.phoneNumberId)).toEqual([SUPPORT_PNID]);
    // Marked read (blue ticks) by the support agent, from its number, once answered.
    await until(() => graph.reads.length > 0, 10_000, "the message marked read");
    const reads = graph.requests.filter((r) => r.body["status"] === "read");
    expect(reads.map((r) => [r.phoneNumberId, r.body["message_id"]])).toEqual([[SUPPORT_PNID, "wamid.SHARED1"]]);
    expect(await rows("SELECT agent, platform_id, state FROM chat_inbox")).toEqual([
      { agent: "support", platform_id: "wamid.SHARED1", state: "answered" },
    ]);
    expect(await rows("SELECT count(*) AS n FROM bus_messages WHERE topic = 'inbound'")).toEqual([{ n: 1 }]);
    expect(await rows("SELECT agent, chat_id FROM channel_contacts")).toEqual([{ agent: "support", chat_id: "15550001234" }]);
    // The reply's statuses, posted to the sales agent's URL too, reach the support number's ledger.
    await until(async () => (await rows("SELECT status FROM channel_deliveries")).some((r) => r["status"] === "delivered"),
      10_000, "the delivered status");
    expect(await rows("SELECT agent, message_id, status FROM channel_deliveries")).toEqual([
      { agent: "support", message_id: graph.sent[0]!.id, status: "delivered" },
    ]);
  }, 60_000);
});
