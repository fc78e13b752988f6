// Meta counts every call to /messages (replies, mark-as-read with typing) against the number's throughput: the
// typing budget takes the pacer's free global slots only, so replies at full pace plus those calls stay within it.
// 20/s as on a Coexistence number (fixed 20 mps); at 80/s timer jitter under load hides the excess. Real agent,
// libSQL file, fake Graph API.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { touchInbound } from "../../src/agents/channel/contacts.ts";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { batchPayload, type FakeGraph, signature, startFakeGraph, textPayload } from "../fakes/graph.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until, whatsappAgent } from "./harness.ts";

const APP_SECRET = "meta-app-secret-0123456789abcdef";
const ACCESS_TOKEN = "EAAJB-fake-access-token-for-throughput";
const PNID = "106540352242922";
const secrets = { WA_APP_SECRET: APP_SECRET, WA_TOKEN: ACCESS_TOKEN, WA_VERIFY: "verify-me" };

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph;
let ch: Channel;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-throughput-")));
afterAll(() => cleanup());
beforeEach(async () => {
  graph = await startFakeGraph({ accessToken: ACCESS_TOKEN });
  ch = await startChannel({
    dir,
    dbFile: "throughput.db",
    secrets,
    // Renewals every 5 s (the shortest): a mark-as-read skipped for want of a slot is tried again sooner.
    agent: whatsappAgent({
      phoneNumberId: PNID,
      graphBaseUrl: graph.baseUrl,
      whatsapp: { pacing: { perSecond: 20 }, typing: { refreshMs: 5_000 } },
    }),
  });
});
afterEach(async () => {
  await ch.stop();
  await graph.close();
});

/** Calls per second to /messages while the replies went out (first to last reply): an average, so timer jitter
 * under load (which bunches a few sends) does not decide it. */
function rate(times: number[], from: number, to: number): number {
  return (times.filter((t) => t >= from && t <= to).length - 1) / ((to - from) / 1000);
}

describe("WhatsApp calls per second against the number's throughput", () => {
  it("replies at full pace plus mark-as-read/typing stay within the number's 20 calls a second (pacing.perSecond 20)", async () => {
    const users = Array.from({ length: 120 }, (_, i) => String(16505560000 + i));
    const now = Date.now();
    await ch.running.store.client.batch(users.map((u) => touchInbound("wa", u, now, now)));
    // Replies owed to 120 users (6 s at 20/s) ...
    await ch.bus.publish(users.map((u, i) => ({
      topic: outboundTopic("wa"),
      key: chatKey("wa", u),
      payload: { agent: "wa", chatId: u, text: `answer ${i}`, inReplyTo: [i], replyKey: `tp${i}`, kind: "answer" } satisfies OutboundReply as never,
      idempotencyKey: `tp:${i}`,
    })));
    await until(() => graph.sent.length >= 20, 10_000, "the replies going out");
    // ... while new questions keep coming in (one webhook batch of 15 every 300 ms), each to be marked read with typing.
    for (let b = 0; b < 16; b++) {
      const body = JSON.stringify(batchPayload(Array.from({ length: 15 }, (_, k) =>
        textPayload({ id: `wamid.TPIN${b}x${k}`, from: String(16505570000 + b * 15 + k), body: "a question", phoneNumberId: PNID })
      )));
      const res = await fetch(`${ch.url}/whatsapp/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, APP_SECRET) },
        body,
      });
      expect(res.status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
    }
    await until(() => graph.sent.length === users.length, 20_000, "every reply");
    const sends = graph.sent.map((s) => s.at);
    const all = graph.requests.map((r) => r.at);
    const reads = all.length - sends.length;
    const [from, to] = [Math.min(...sends), Math.max(...sends)];
    const replies = rate(sends, from, to);
    const calls = rate(all, from, to);
    expect(replies).toBeLessThanOrEqual(20.5); // the replies alone keep to the pacer's 20/s: right
    expect(calls, `${calls.toFixed(1)} calls/s to /messages (replies ${replies.toFixed(1)}/s, ${reads} mark-as-read/typing calls)`)
      .toBeLessThanOrEqual(21);
    // The replies come first: the marks skipped meanwhile come at the renewals once slots are free again.
    await until(() => graph.requests.length - graph.sent.length >= 20, 15_000, "the skipped marks, at the renewals");
  }, 60_000);
});
