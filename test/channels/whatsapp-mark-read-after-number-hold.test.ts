// A message the action budget left unmarked (no room in the number's throughput during a number-wide hold:
// 131048, 130429, 131057, kept across a restart) and whose turn ends without a reply (a paused chat, a silence) is
// still marked read once the hold ends, also when the hold outlasts typing.maxMs and with it every renewal.
// Real agent, libSQL file, fake Graph API.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type FakeGraph, signature, startFakeGraph, textPayload } from "../fakes/graph.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until, whatsappAgent } from "./harness.ts";

const APP_SECRET = "meta-app-secret-0123456789abcdef";
const ACCESS_TOKEN = "EAAJB-fake-access-token-for-read-after-hold";
const PNID = "106540352242922";
const secrets = { WA_APP_SECRET: APP_SECRET, WA_TOKEN: ACCESS_TOKEN, WA_VERIFY: "verify-me" };
const USER = "16505550077";

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph;
let ch: Channel;
let db = 0;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-readhold-")));
afterAll(() => cleanup());
const start = () =>
  startChannel({
    dir,
    dbFile: `read-hold-${db}.db`, // one per test; a restart within one opens it again
    secrets,
    // Renewals every 5 s (the shortest) for 8 s: a hold of 12 s outlasts them.
    agent: whatsappAgent({
      phoneNumberId: PNID,
      graphBaseUrl: graph.baseUrl,
      whatsapp: { typing: { refreshMs: 5_000, maxMs: 8_000 } },
    }),
  });
beforeEach(async () => {
  graph = await startFakeGraph({ accessToken: ACCESS_TOKEN });
  db++;
  ch = await start();
});
afterEach(async () => {
  await ch.stop();
  await graph.close();
});

async function silentTurnDuringHold(holdMs: number, wamid: string) {
  // A 131048 hold saved by the process before; the agent restarts during it.
  const holdEnd = Date.now() + holdMs;
  await ch.running.store.client.execute({
    sql: "INSERT INTO channel_holds (agent, until_at) VALUES ('wa', ?)",
    args: [holdEnd],
  });
  await ch.stop();
  ch = await start();
  // The user writes.
  const body = JSON.stringify(textPayload({ id: wamid, from: USER, body: "anyone there?", phoneNumberId: PNID }));
  const res = await fetch(`${ch.url}/whatsapp/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, APP_SECRET) },
    body,
  });
  expect(res.status).toBe(200);
  await until(async () => (await ch.count("SELECT count(*) FROM chat_inbox WHERE chat_id = ?", USER)) === 1, 5_000, "the inbox row");
  // The orchestrator ends the turn without a reply (what turn.ts writes for a silence).
  await ch.running.store.client.execute({
    sql: "UPDATE chat_inbox SET state = 'silent', answered_at = ? WHERE chat_id = ?",
    args: [Date.now(), USER],
  });
  // Nothing may be marked during the hold; after it, the message must be.
  await until(() => Date.now() > holdEnd + 6_000 || graph.reads.length > 0, 25_000, "the hold's end");
  const marked = graph.reads.find((r) => r.messageId === wamid);
  expect(marked, `no mark-as-read for the message ${Date.now() - holdEnd} ms after the number's hold ended`).toBeDefined();
  expect(marked!.at).toBeGreaterThanOrEqual(holdEnd - 50);
}

describe("mark-as-read of a turn without a reply, during a number-wide hold", () => {
  it("a hold shorter than typing.maxMs: the renewal after it marks the message", async () => {
    await silentTurnDuringHold(3_000, "wamid.HOLDREAD0");
  }, 40_000);

  it("the message is marked read once the hold ends, though the hold outlasted typing.maxMs", async () => {
    await silentTurnDuringHold(12_000, "wamid.HOLDREAD1");
  }, 40_000);
});
