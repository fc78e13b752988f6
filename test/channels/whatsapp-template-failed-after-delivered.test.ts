// A template Meta reported `delivered` (the user has it) and then, out of order, `failed`: the window's one template
// was sent, so the next reply in the same closed window sends no second one (one template per closed window; a
// second is billed again). The real agent, with the fake Graph posting the template's status webhooks.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { touchInbound } from "../../src/agents/channel/contacts.ts";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type FakeGraph, signature, startFakeGraph, statusPayload } from "../fakes/graph.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until, whatsappAgent } from "./harness.ts";

const APP_SECRET = "meta-app-secret-template-failed";
const TOKEN = "EAAJB-template-failed-token";
const PNID = "106540352242922";
const USER = "16505551234";
const HOUR = 3_600_000;

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph | undefined;
let ch: Channel | undefined;
let n = 0;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-watf-")));
afterAll(() => cleanup());
afterEach(async () => {
  await ch?.stop();
  await graph?.close();
  ch = undefined;
  graph = undefined;
});

const reply = (replyKey: string): OutboundReply => ({
  agent: "wa",
  chatId: USER,
  text: "Your order shipped yesterday.",
  inReplyTo: [1],
  replyKey,
  kind: "answer",
});

it("a template Meta reported delivered and then failed still counts: no second template in the same closed window", async () => {
  const g = (graph = await startFakeGraph({ accessToken: TOKEN }));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/whatsapp/webhook`;
  g.deliverStatuses({ url, appSecret: APP_SECRET });
  const c = (ch = await startChannel({
    dir,
    dbFile: `tpl-${n++}.db`,
    secrets: { WA_APP_SECRET: APP_SECRET, WA_TOKEN: TOKEN, WA_VERIFY: "verify-template-failed" },
    agent: whatsappAgent({
      phoneNumberId: PNID,
      graphBaseUrl: g.baseUrl,
      whatsapp: { markAsRead: false, template: { name: "follow_up", language: "en_US" } },
    }, { port }),
  }));
  // The user last wrote 30 h ago: the window is closed, a reply becomes the template.
  const wrote = Date.now() - 30 * HOUR;
  await c.running.store.client.execute(touchInbound("wa", USER, wrote, wrote));
  const publish = (r: OutboundReply) =>
    c.bus.publish([{ topic: outboundTopic("wa"), key: chatKey("wa", r.chatId), payload: r as never }]);

  await publish(reply("1:answer"));
  await until(() => g.sent.length === 1, 10_000, "the template");
  expect(g.sent[0]).toMatchObject({ type: "template", callbackData: "1:answer#0" });
  const wamid = g.sent[0]!.id;
  await until(
    async () =>
      (await c.count("SELECT count(*) FROM channel_deliveries WHERE message_id = ? AND status = 'delivered'", wamid)) === 1,
    10_000,
    "its delivered status",
  );
  // Then, out of order, Meta fails it: the row keeps the delivered time.
  const body = JSON.stringify(statusPayload({
    phoneNumberId: PNID,
    messageId: wamid,
    status: "failed",
    to: USER,
    callbackData: "1:answer#0",
    at: Date.now(),
    errors: [{ code: 131026, title: "Message undeliverable" }],
  }));
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signature(body, APP_SECRET) },
    body,
  });
  expect(res.status).toBe(200);
  const DELIVERY = "SELECT status, delivered_at IS NOT NULL AS delivered FROM channel_deliveries WHERE message_id = ?";
  expect(await c.rows(DELIVERY, wamid)).toEqual([{ status: "failed", delivered: 1 }]);
  await publish(reply("2:answer"));
  await until(
    async () =>
      (await c.count("SELECT count(*) FROM bus_send_ledger WHERE reply_key = '2:answer#0' AND state <> 'sending'")) === 1,
    15_000,
    "the second reply handled",
  );
  expect(await c.rows("SELECT state, last_error FROM bus_send_ledger WHERE reply_key = '2:answer#0'")).toEqual([
    { state: "failed", last_error: "the template was sent already since the user last wrote" },
  ]);
  expect(g.sent.map((s) => s.type)).toEqual(["template"]);
}, 30_000);
