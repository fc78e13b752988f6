// A back-off for every chat of a WhatsApp number (131048 here) is kept in the store: after a graceful restart during
// it, a reply to another user still waits for its end. A refused token's is not kept, and a kept one is never
// longer than the longest back-off. Real agent, libSQL file, fake Graph API.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { touchInbound } from "../../src/agents/channel/contacts.ts";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type FakeGraph, graphErrors, startFakeGraph } from "../fakes/graph.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until, whatsappAgent } from "./harness.ts";

const APP_SECRET = "meta-app-secret-0123456789abcdef";
const ACCESS_TOKEN = "EAAJB-fake-access-token-for-number-hold";
const PNID = "106540352242922";
const secrets = { WA_APP_SECRET: APP_SECRET, WA_TOKEN: ACCESS_TOKEN, WA_VERIFY: "verify-me" };
const A = "16505550001";
const B = "16505550002";

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph;
let ch: Channel;
let db = 0;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-hold-")));
afterAll(() => cleanup());
const start = () =>
  startChannel({
    dir,
    dbFile: `hold-${db}.db`, // one per test; a restart within one opens it again
    secrets,
    agent: whatsappAgent({ phoneNumberId: PNID, graphBaseUrl: graph.baseUrl, whatsapp: { markAsRead: false } }),
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

const publish = (r: OutboundReply) =>
  ch.bus.publish([{
    topic: outboundTopic("wa"),
    key: chatKey("wa", r.chatId),
    payload: r as never,
    idempotencyKey: `hold:${r.replyKey}`,
  }]);
const reply = (chatId: string, replyKey: string): OutboundReply => ({
  agent: "wa",
  chatId,
  text: `answer for ${chatId}`,
  inReplyTo: [1],
  replyKey,
  kind: "answer",
});

describe("a WhatsApp number-wide back-off across a restart", () => {
  it("after a graceful restart during a 131048 hold (every chat, 4 s), another user's reply is not sent into it", async () => {
    for (const user of [A, B]) await ch.running.store.client.execute(touchInbound("wa", user, Date.now(), Date.now()));
    // 131048 (spam rate limit of the number): every chat waits 4 s.
    graph.script((req) => (req.body["to"] === A && graph.requests.filter((r) => r.body["to"] === A).length === 1 ? graphErrors.spamRate() : undefined));
    await publish(reply(A, "ra"));
    await until(() => graph.requests.some((r) => r.body["to"] === A), 10_000, "A's refused send");
    const refusedAt = graph.requests.find((r) => r.body["to"] === A)!.at;
    // A deploy restarts the agent while every chat waits.
    await ch.stop();
    ch = await start();
    await publish(reply(B, "rb"));
    await until(() => graph.sent.some((s) => s.to === B), 15_000, "B's reply");
    const bAt = graph.sent.find((s) => s.to === B)!.at;
    expect(bAt - refusedAt, `B's reply went ${bAt - refusedAt} ms after Meta's 131048 (hold: 4000 ms)`)
      .toBeGreaterThanOrEqual(3_900);
  }, 40_000);

  it("a saved hold ending further off than the longest one (a wall clock stepped back) is cut to 15 minutes", async () => {
    const far = Date.now() + 10 * 24 * 3_600_000;
    const sql = "INSERT INTO channel_holds (agent, until_at) VALUES ('wa', ?)";
    await ch.running.store.client.execute({ sql, args: [far] });
    await ch.stop();
    const restarted = Date.now();
    ch = await start();
    const saved = async () =>
      Number((await ch.rows("SELECT until_at FROM channel_holds WHERE agent = 'wa'"))[0]!["until_at"]);
    await until(async () => (await saved()) < far, 5_000, "the hold saved again, cut");
    expect(await saved()).toBeGreaterThanOrEqual(restarted + 15 * 60_000);
    expect(await saved()).toBeLessThanOrEqual(Date.now() + 15 * 60_000);
  });

  it("a refused token's hold (190) is not saved: once the token is fixed, a restart sends at once", async () => {
    await ch.running.store.client.execute(touchInbound("wa", A, Date.now(), Date.now()));
    graph.script(() => graphErrors.expiredToken());
    await publish(reply(A, "rt"));
    await until(() => graph.requests.length >= 1, 10_000, "the refused send");
    await new Promise((r) => setTimeout(r, 300)); // a save would have been written by now
    expect(await ch.rows("SELECT * FROM channel_holds")).toEqual([]);
  });
});
