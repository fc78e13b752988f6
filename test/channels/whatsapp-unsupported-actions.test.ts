// WhatsApp `type: "unsupported"` messages, end to end (the real WhatsApp agent and orchestrator on one store, the
// fake Graph API). Besides content the Cloud API cannot carry, Meta's "Unsupported messages webhook reference" names
// a user's actions on a chat as `unsupported.type`: `reaction`, `poll_update` (a vote), `pin`, `keep_in_chat`. They
// ask nothing and are recorded, not answered; so is a message Meta could not make available (131060).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { type FakeGraph, freshen, signature, startFakeGraph, webhookFixture } from "../fakes/graph.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { runTestAgent } from "../support/agent.ts";
import { until } from "./harness.ts";

const APP_SECRET = "meta-app-secret-0123456789abcdef";
const ACCESS_TOKEN = "EAAJB-fake-access-token-nontext";
const PNID = "106540352242922";
const secrets = { WA_APP_SECRET: APP_SECRET, WA_TOKEN: ACCESS_TOKEN, WA_VERIFY: "verify-me" };
const NOTICE = "Sorry, I can only read text messages. Please type your question.";

/** A one-message payload of Meta's documented `unsupported` shape from `from`. */
function unsupported(id: string, from: string, type: string): Record<string, unknown> {
  const p = freshen(webhookFixture("sticker"), { phoneNumberId: PNID });
  const value = (p["entry"] as { changes: { value: Record<string, unknown> }[] }[])[0]!.changes[0]!.value;
  (value["contacts"] as { wa_id: string }[])[0]!.wa_id = from;
  const m = (value["messages"] as Record<string, unknown>[])[0]!;
  delete m["sticker"];
  Object.assign(m, {
    id,
    from,
    type: "unsupported",
    errors: [{
      code: 131051,
      title: "Message type unknown",
      message: "Message type unknown",
      error_data: { details: "Message type is currently not supported." },
    }],
    unsupported: { type },
  });
  return p;
}

function sticker(id: string, from: string): Record<string, unknown> {
  const p = freshen(webhookFixture("sticker"), { phoneNumberId: PNID });
  const value = (p["entry"] as { changes: { value: Record<string, unknown> }[] }[])[0]!.changes[0]!.value;
  (value["contacts"] as { wa_id: string }[])[0]!.wa_id = from;
  Object.assign((value["messages"] as Record<string, unknown>[])[0]!, { id, from });
  return p;
}

describe("whatsapp unsupported messages that are a user's action, not a message", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let graph: FakeGraph;
  const running: RunningAgent[] = [];
  let port = 0;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir("aideazz-nontext-wa-"));
    graph = await startFakeGraph({ accessToken: ACCESS_TOKEN });
    port = await freePort();
    const config = loadConfig(
      JSON.stringify({
        store: { url: `file:${join(dir, "wa.db")}` },
        roles: { support: { kind: "support", systemPrompt: "Be nice." } },
        agents: [
          { name: "orchestrator", kind: "orchestrator", port: await freePort() },
          {
            name: "wa",
            kind: "whatsapp",
            role: "support",
            port,
            whatsapp: {
              phoneNumberId: PNID,
              appSecretEnv: "WA_APP_SECRET",
              accessTokenEnv: "WA_TOKEN",
              verifyTokenEnv: "WA_VERIFY",
              graphBaseUrl: graph.baseUrl,
            },
          },
        ],
      }),
      secrets,
    );
    for (const name of ["wa", "orchestrator"]) running.push(await runTestAgent({ config, name, secrets }));
  }, 60_000);

  afterAll(async () => {
    for (const r of running.reverse()) await r.stop();
    await graph?.close();
    await cleanup?.();
  });

  async function post(payload: Record<string, unknown>) {
    const body = JSON.stringify(payload);
    const res = await fetch(`http://127.0.0.1:${port}/whatsapp/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, APP_SECRET) },
      body,
    });
    expect(res.status).toBe(200);
  }
  const sentTo = (user: string) => graph.sent.filter((s) => s.to === user).map((s) => s.text);

  it("a reaction, a poll vote, a pin and keep-in-chat sent as `unsupported` get no 'text only' notice", async () => {
    const actions = ["reaction", "poll_update", "pin", "keep_in_chat"];
    for (const [i, type] of actions.entries()) await post(unsupported(`wamid.ACT${i}`, `1555000100${i}`, type));
    // The control: a sticker, which the policy does answer, shows the pipeline is running and how long it takes.
    await post(sticker("wamid.STICKER1", "15550009999"));
    await until(() => sentTo("15550009999").length >= 1, 20_000, "the sticker's notice");
    // Past the burst window (maxWaitMs 4 s) any notice of the actions, sent before the sticker's, has gone out too.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(sentTo("15550009999")).toEqual([NOTICE]);
    const answered = actions.map((type, i) => [type, sentTo(`1555000100${i}`)]);
    expect(answered).toEqual(actions.map((type) => [type, []]));
  }, 60_000);
  it("a message Meta could not make available (131060: a Coexistence number's first message) is recorded, not told 'text only'", async () => {
    const p = unsupported("wamid.UNAVAILABLE1", "15550002000", "text");
    const m = ((p["entry"] as { changes: { value: { messages: Record<string, unknown>[] } }[] }[])[0]!.changes[0]!
      .value.messages)[0]!;
    m["errors"] = [{
      code: 131060,
      title: "This message is currently unavailable.",
      message: "This message is currently unavailable.",
      error_data: { details: "This message is currently unavailable." },
    }];
    delete m["unsupported"];
    await post(p);
    await post(sticker("wamid.STICKER2", "15550009998"));
    await until(() => sentTo("15550009998").length >= 1, 20_000, "the sticker's notice");
    await new Promise((r) => setTimeout(r, 5_000));
    // Often a typed question: "type your question" would tell the user they sent something else.
    expect(sentTo("15550002000")).toEqual([]);
  }, 60_000);
});
