// A WhatsApp `failed` status that Meta posts after `aideazz forget`, for a reply sent before it: the real agent and
// the real `forget` on a libSQL file, the fake Graph. Neither 131047 (re-engagement: the template instead) nor a
// temporary error (a resend) queues anything for the forgotten number, and nothing of it is stored again; the same
// statuses for another user's reply still get their template and resend.
import { afterAll, beforeAll, expect, it } from "vitest";
import { touchInbound } from "../../src/agents/channel/contacts.ts";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type Channel, startChannel, until, whatsappAgent } from "../channels/harness.ts";
import { type FakeGraph, signature, startFakeGraph, statusPayload } from "../fakes/graph.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

const secrets = { WA_APP_SECRET: "forget-status-secret", WA_TOKEN: "EAAJB-forget-status", WA_VERIFY: "forget-status-verify" };
const PNID = "106540352242944";
const ALICE = "15550001111";
const BOB = "15550002222";

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph;
let ch: Channel;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-forget-status-"));
  graph = await startFakeGraph({ accessToken: secrets.WA_TOKEN });
  ch = await startChannel({
    dir,
    dbFile: "forget-status.db",
    secrets,
    agent: whatsappAgent({
      phoneNumberId: PNID,
      graphBaseUrl: graph.baseUrl,
      whatsapp: { markAsRead: false, template: { name: "follow_up", language: "en_US" } },
    }),
  });
}, 30_000);

afterAll(async () => {
  try {
    await ch?.stop();
    await graph?.close();
  } finally {
    await cleanup?.();
  }
});

const reply = (chatId: string, replyKey: string): OutboundReply => ({
  agent: "wa",
  chatId,
  text: `Your order shipped yesterday, ${chatId}.`,
  inReplyTo: [1],
  replyKey,
  kind: "answer",
});

async function postFailed(to: string, code: number) {
  const sent = graph.sent.find((s) => s.to === to)!;
  const body = JSON.stringify(statusPayload({
    phoneNumberId: PNID,
    messageId: sent.id,
    status: "failed",
    to,
    callbackData: sent.callbackData!,
    at: Date.now(),
    errors: [{ code, title: "failed" }],
  }));
  const res = await fetch(`${ch.url}/whatsapp/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signature(body, secrets.WA_APP_SECRET) },
    body,
  });
  await res.body?.cancel();
  return res.status;
}

it("a failed status after forget queues no template and no resend for the forgotten number, and stores nothing", async () => {
  const client = ch.running.store.client;
  for (const [user, key] of [[ALICE, "1:answer"], [BOB, "2:answer"]] as const) {
    await client.execute(touchInbound("wa", user, Date.now(), Date.now()));
    const r = reply(user, key);
    await ch.bus.publish([{ topic: outboundTopic("wa"), key: chatKey("wa", user), payload: r as never, idempotencyKey: `reply:${key}` }]);
  }
  await until(() => graph.sent.length === 2, 10_000, "both replies");

  const r = await cli(["forget", `chat:wa:${ALICE}`, "--db", `file:${dir}/forget-status.db`], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  expect(await ch.count("SELECT count(*) FROM bus_messages WHERE okey LIKE '%' || ?", ALICE)).toBe(0);

  // Meta fails both replies, after the forget: re-engagement (131047), then a temporary error (131000).
  for (const code of [131047, 131000]) {
    expect(await postFailed(ALICE, code)).toBe(200);
    expect(await postFailed(BOB, code)).toBe(200);
  }
  // Bob's still get theirs: the template is sent, the resend queued.
  await until(() => graph.sent.some((s) => s.to === BOB && s.type === "template"), 10_000, "Bob's template");
  expect(await ch.count("SELECT count(*) FROM bus_messages WHERE okey = ? AND payload ->> '$.resend' IS NOT NULL", chatKey("wa", BOB)))
    .toBe(1);
  await new Promise((res) => setTimeout(res, 1_500));
  expect(graph.sent.filter((s) => s.to === ALICE).map((s) => s.type)).toEqual(["text"]);
  const left = await ch.rows(
    `SELECT topic, okey, payload FROM bus_messages WHERE okey LIKE '%' || ?1 OR payload LIKE '%' || ?1 || '%'`,
    ALICE,
  );
  expect(left).toEqual([]);
}, 60_000);
