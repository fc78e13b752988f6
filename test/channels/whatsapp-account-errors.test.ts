// Graph errors that stop EVERY send of the number until the operator acts (WhatsApp Cloud API error codes:
// 131005 "Access denied: permission is either not granted or has been removed" (HTTP 403) and 133010 "Account not
// registered: the phone number is not registered on the WhatsApp Business Platform"). Like a refused token (10,
// 200-299) or a blocked account (368/131031/131042) they hold the reply and turn /health 503, never drop it.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, outboundTopic } from "../../src/bus/envelopes.ts";
import { toGraphOutcome } from "../../src/agents/whatsapp/errors.ts";
import { type FakeGraph, freshen, signature, startFakeGraph, webhookFixture } from "../fakes/graph.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until, whatsappAgent } from "./harness.ts";

const APP_SECRET = "meta-app-secret-0123456789abcdef";
const ACCESS_TOKEN = "EAAJB-fake-access-token-for-tests";
const PNID = "106540352242922";
const secrets = { WA_APP_SECRET: APP_SECRET, WA_TOKEN: ACCESS_TOKEN, WA_VERIFY: "verify-me" };

const refused = (code: number, status: number, message: string) => ({
  ok: false as const,
  status,
  error: { code, message, type: "OAuthException" },
});

describe("account-wide Graph errors (mapping)", () => {
  it("131005 (access denied, permission removed) holds every send like codes 10 and 200-299", () => {
    const outcome = toGraphOutcome(refused(131005, 403, "(#131005) Access denied"), 1, undefined);
    expect(outcome).toMatchObject({ kind: "retry", scope: "all" });
  });

  it("133010 (phone number not registered) holds every send instead of dropping each reply", () => {
    const outcome = toGraphOutcome(refused(133010, 400, "(#133010) Account not registered"), 1, undefined);
    expect(outcome).toMatchObject({ kind: "retry", scope: "all" });
  });
});

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph;
let ch: Channel;
let n = 0;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-wa2-")));
afterAll(() => cleanup());
beforeEach(async () => {
  graph = await startFakeGraph({ accessToken: ACCESS_TOKEN });
  ch = await startChannel({
    dir,
    dbFile: `acct-${n++}.db`,
    secrets,
    agent: whatsappAgent({ phoneNumberId: PNID, graphBaseUrl: graph.baseUrl, whatsapp: { staleAfterS: 3600 } }),
  });
});
afterEach(async () => {
  await ch.stop();
  await graph.close();
});

describe("account-wide Graph errors (agent)", () => {
  it("a reply refused with 131005 (permission removed) is held and /health says so, not failed for good", async () => {
    graph.script(() => ({
      status: 403,
      body: { error: { message: "(#131005) Access denied", type: "OAuthException", code: 131005, fbtrace_id: "A1" } },
    }));
    const body = JSON.stringify(freshen(webhookFixture("text"), { phoneNumberId: PNID }));
    const res = await fetch(`${ch.url}/whatsapp/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, APP_SECRET) },
      body,
    });
    expect(res.status).toBe(200);
    const chatId = "16505551234";
    const reply = { agent: "wa", chatId, text: "hello", inReplyTo: [1], replyKey: "acl", kind: "answer" };
    await ch.bus.publish([{ topic: outboundTopic("wa"), key: chatKey("wa", chatId), payload: reply, idempotencyKey: "acl" }]);
    await until(() => graph.requests.some((r) => r.body["type"] === "text"), 10_000, "the send");
    await new Promise((r) => setTimeout(r, 1_000));
    // Dropped: the ledger says failed (the reply will never be sent, even once the permission is restored).
    // Held: the reply waits on the bus (sent once the permission is back, or dead-lettered with this reason), not
    // acknowledged as failed for good.
    expect(await ch.count("SELECT count(*) FROM bus_deliveries WHERE topic = ?", outboundTopic("wa"))).toBe(1);
    expect((await fetch(`${ch.url}/health`)).status).toBe(503);
  });
});
