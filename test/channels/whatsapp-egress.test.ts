// WhatsApp egress (RELIABILITY.md B6, B7): the 24-hour window decides free-form vs template vs "not possible",
// pair-rate pacing, back-off on 131056 and 130429, no retry of 131047 — the egress handler with the real Graph
// client against the fake Graph API, on a virtual clock shared with the fake (20 replies at 6 s take 0 s).
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getContact, recordTemplate, touchInbound } from "../../src/agents/channel/contacts.ts";
import type { WaStatus } from "../../src/agents/whatsapp/payload.ts";
import { recordStatus, settleSend } from "../../src/agents/whatsapp/statuses.ts";
import { createEgressHandler } from "../../src/agents/channel/egress.ts";
import { createPacer } from "../../src/agents/channel/pacer.ts";
import { sleep } from "../../src/agents/channel/sleep.ts";
import { createGraphClient } from "../../src/agents/whatsapp/graph.ts";
import { createWhatsAppTransport } from "../../src/agents/whatsapp/send.ts";
import type { OutboundReply } from "../../src/bus/envelopes.ts";
import { createSendLedger } from "../../src/bus/mod.ts";
import type { Delivery } from "../../src/bus/types.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { type FakeGraph, graphErrors, startFakeGraph } from "../fakes/graph.ts";
import { tempDir } from "../support/tmp.ts";
import { virtualClock } from "./clock.ts";
import { until } from "./harness.ts";

const TOKEN = "EAAJB-egress-token";
const USER = "16505551234";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let graph: FakeGraph;
let clock: ReturnType<typeof virtualClock>;
let n = 0;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-wae-")));
afterAll(() => cleanup());
beforeEach(async () => {
  clock = virtualClock();
  graph = await startFakeGraph({ accessToken: TOKEN, now: clock.now });
  store = await openStore({ url: `file:${join(dir, `wae-${n++}.db`)}` });
  await migrate(store.client);
});
afterEach(async () => {
  store.close();
  await graph.close();
});

function handlerFor(template?: { name: string; language: string }, perUserMs = 6000, perSecond = 80) {
  const logs: string[] = [];
  const handler = createEgressHandler({
    channel: "whatsapp",
    transport: createWhatsAppTransport({
      graph: createGraphClient({
        baseUrl: graph.baseUrl,
        phoneNumberId: "106540352242922",
        accessToken: TOKEN,
        fetch: globalThis.fetch.bind(globalThis),
      }),
      client: store.client,
      agent: "wa",
      now: clock.now,
      template,
    }),
    ledger: createSendLedger(store, { now: clock.now }),
    resendUnknown: false,
    settle: (key, since) => settleSend(store.client, { agent: "wa", waitMs: 180_000 }, key, since, clock.now()),
    unknownsKeptMs: 180_000,
    pacer: createPacer({ perKeyMs: perUserMs, perSecond, now: clock.now, sleep: clock.sleep }),
    log: createLogger({ agent: "wa", secrets: [TOKEN], write: (l) => void logs.push(l) }),
    metrics: createMetrics(),
    now: clock.now,
    markInactive: () => Promise.resolve(),
  });
  return { handler, logs };
}

let fence = 0;
function delivery(r: OutboundReply): Delivery {
  return {
    id: ++fence,
    topic: "outbound.wa",
    group: "egress",
    key: `wa:${r.chatId}`,
    payload: r as never,
    traceId: undefined,
    attempt: 1,
    publishedAt: 0,
    fence,
    signal: new AbortController().signal,
    extendLease: () => Promise.resolve(),
    assertLease: () => Promise.resolve(),
    underLease: (write) => write([]),
    ackWith: () => {
      throw new Error("egress records its sends itself");
    },
  };
}
const reply = (text: string, key: string, chatId = USER): OutboundReply => ({
  agent: "wa",
  chatId,
  text,
  inReplyTo: [1],
  replyKey: key,
  kind: "answer",
});
const wroteAt = (ms: number, chatId = USER) =>
  store.client.execute(touchInbound("wa", chatId, ms, clock.now()));
const ledgerRow = async (key: string) =>
  (await store.client.execute({
    sql: "SELECT state, last_error FROM bus_send_ledger WHERE reply_key = ?",
    args: [key],
  })).rows.map((r) => ({ ...r }))[0];

describe("24-hour window (B6)", () => {
  it("inside the window: free-form text with link previews off, wamid recorded for status webhooks", async () => {
    await wroteAt(clock.now() - 3600_000);
    const { handler } = handlerFor();
    await handler(delivery(reply("Yes, it comes in blue.", "w1")));
    expect(graph.sent).toEqual([
      expect.objectContaining({ to: USER, type: "text", text: "Yes, it comes in blue.", previewUrl: false }),
    ]);
    const rows = await store.client.execute("SELECT message_id, status, reply_key FROM channel_deliveries");
    expect(rows.rows.map((r) => ({ ...r }))).toEqual([{
      message_id: graph.sent[0]!.id,
      status: "accepted",
      reply_key: "w1#0",
    }]);
  });

  it("the wamid is recorded in one transaction with the ledger's sent record: neither commits without the other", async () => {
    await wroteAt(clock.now() - 3600_000);
    await store.client.execute(`CREATE TRIGGER refuse_sent BEFORE UPDATE OF state ON bus_send_ledger
      WHEN NEW.state = 'sent' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    const { handler } = handlerFor();
    await expect(handler(delivery(reply("Yes, it comes in blue.", "w1")))).rejects.toThrow(/disk I\/O error/);
    expect(graph.sent).toHaveLength(1);
    expect((await store.client.execute("SELECT count(*) AS n FROM channel_deliveries")).rows[0]!["n"]).toBe(0);
    expect(await ledgerRow("w1#0")).toEqual({ state: "sending", last_error: null });
  });

  it("older than 24 h and no template: nothing is sent, the reply is recorded as not possible", async () => {
    await wroteAt(clock.now() - 25 * 3600_000);
    const { handler } = handlerFor();
    await handler(delivery(reply("A follow-up", "w2")));
    expect(graph.requests).toEqual([]);
    expect(await ledgerRow("w2#0")).toEqual({
      state: "failed",
      last_error: "not possible: the 24-hour window is closed and no template is configured",
    });
  });

  it("a user who never wrote is outside the window too", async () => {
    const { handler } = handlerFor();
    await handler(delivery(reply("Hello stranger", "w3", "15550009999")));
    expect(graph.requests).toEqual([]);
  });

  it("older than 24 h with a template configured: the approved template is sent once, not the text", async () => {
    await wroteAt(clock.now() - 25 * 3600_000);
    const { handler } = handlerFor({ name: "follow_up", language: "en_US" });
    await handler(delivery(reply(`${"long answer. ".repeat(400)}`, "w4")));
    expect(graph.sent).toEqual([
      expect.objectContaining({ type: "template", template: { name: "follow_up", language: "en_US" } }),
    ]);
  });

  it("131047 from the API (window closed at Meta): not retried; without a template the reply stops there", async () => {
    await wroteAt(clock.now() - 1000);
    graph.windowClosed.add(USER);
    const { handler } = handlerFor();
    await handler(delivery(reply("part one\n\n" + "x".repeat(4100), "w5")));
    expect(graph.requests).toHaveLength(1);
    expect(await ledgerRow("w5#0")).toMatchObject({
      state: "failed",
      last_error: expect.stringContaining("131047"),
    });
    await handler(delivery(reply("next reply", "w6")));
    expect(graph.requests).toHaveLength(2); // one attempt per reply, never a loop
  });

  it("131047 with a template configured: the template is sent once in place of the whole reply", async () => {
    await wroteAt(clock.now() - 1000);
    graph.windowClosed.add(USER);
    const { handler } = handlerFor({ name: "follow_up", language: "en_US" });
    await handler(delivery(reply("part one\n\n" + "x".repeat(4100), "w7")));
    expect(graph.requests).toHaveLength(2);
    expect(graph.sent).toEqual([expect.objectContaining({ type: "template" })]);
  });
});

describe("the template: once per closed window", () => {
  const template = { name: "follow_up", language: "en_US" };
  const refused = (key: string, refusedAt: number): OutboundReply => ({
    ...reply("", key),
    inReplyTo: [],
    template: { refusedAt },
  });

  it("Meta refused two replies of one turn (the notice and the answer): one template; none after the user wrote again", async () => {
    await wroteAt(clock.now() - 23 * 3600_000);
    const { handler } = handlerFor(template);
    await handler(delivery(refused("t1:working:template", clock.now())));
    await handler(delivery(refused("t1:answer:template", clock.now())));
    expect(graph.sent).toEqual([expect.objectContaining({ type: "template", template })]);
    expect(await ledgerRow("t1:answer:template#0")).toMatchObject({
      state: "failed",
      last_error: "the template was sent already since the user last wrote",
    });
    // The user wrote again: a refusal from before that (Meta retries status webhooks for days) sends nothing.
    await clock.sleep(60_000);
    await wroteAt(clock.now());
    await handler(delivery(refused("t2:answer:template", clock.now() - 30_000)));
    expect(graph.sent).toHaveLength(1);
    expect(await ledgerRow("t2:answer:template#0")).toMatchObject({
      state: "failed",
      last_error: "not needed: the user wrote again after Meta refused the reply",
    });
    // A refusal after that message is the next closed window's: its template goes.
    await handler(delivery(refused("t3:answer:template", clock.now() + 1000)));
    expect(graph.sent).toHaveLength(2);
  });

  it("Meta refuses the text of two replies at once (131047): the first is replaced by the template, the second not", async () => {
    await wroteAt(clock.now() - 1000);
    graph.windowClosed.add(USER);
    const { handler } = handlerFor(template);
    await handler(delivery(reply("one moment…", "r1:working")));
    await handler(delivery(reply("the answer", "r1:answer")));
    expect(graph.requests).toHaveLength(3); // text, template, text
    expect(graph.sent).toEqual([expect.objectContaining({ type: "template" })]);
    expect(await ledgerRow("r1:answer#0")).toMatchObject({ state: "failed", last_error: expect.stringContaining("131047") });
  });

  it("the window closed on our clock: the first reply gets the template, the next ones nothing until the user writes", async () => {
    await wroteAt(clock.now() - 25 * 3600_000);
    const { handler } = handlerFor(template);
    await handler(delivery(reply("first", "c1")));
    await handler(delivery(reply("second", "c2")));
    expect(graph.sent).toEqual([expect.objectContaining({ type: "template" })]);
    await wroteAt(clock.now() + 1000);
    await clock.sleep(2000);
    await handler(delivery(reply("after they wrote", "c3")));
    expect(graph.sent.map((m) => m.type)).toEqual(["template", "text"]);
  });

  /** Meta's status webhook for our message `wamid`, stored as ingress stores it. */
  const storeStatus = (wamid: string, status: string, more: Partial<WaStatus> = {}) =>
    store.client.execute(recordStatus("wa", {
      id: wamid,
      status,
      timestamp: String(Math.floor(clock.now() / 1000)),
      recipient_id: USER,
      ...more,
    }, clock.now()));

  it("a template whose status says failed does not count, whether the status or our record was stored first", async () => {
    const failed = (wamid: string) =>
      storeStatus(wamid, "failed", { errors: [{ code: 131026, title: "Message undeliverable" }] });
    const templateAt = async () => (await getContact(store.client, "wa", USER))?.templateAt;
    await store.client.execute(recordTemplate("wa", USER, clock.now(), "wamid.T1"));
    expect(await templateAt()).toBe(clock.now());
    await failed("wamid.T1");
    expect(await templateAt()).toBeUndefined();
    // The status first (Meta's webhook can beat our commit), then our record of the send.
    await failed("wamid.T2");
    await store.client.execute(recordTemplate("wa", USER, clock.now() + 1, "wamid.T2"));
    expect(await templateAt()).toBeUndefined();
    await store.client.execute(recordTemplate("wa", USER, clock.now() + 2, "wamid.T3"));
    expect(await templateAt()).toBe(clock.now() + 2);
  });

  it("a template Meta failed and also delivered (statuses out of order, in either order) counts: the user has it", async () => {
    const failed = (wamid: string) =>
      storeStatus(wamid, "failed", { errors: [{ code: 131026, title: "Message undeliverable" }] });
    const templateAt = async () => (await getContact(store.client, "wa", USER))?.templateAt;
    await store.client.execute(recordTemplate("wa", USER, clock.now(), "wamid.T1"));
    await storeStatus("wamid.T1", "delivered");
    await failed("wamid.T1");
    expect(await templateAt()).toBe(clock.now());
    await store.client.execute(recordTemplate("wa", USER, clock.now() + 1, "wamid.T2"));
    await failed("wamid.T2");
    expect(await templateAt()).toBeUndefined();
    await storeStatus("wamid.T2", "read");
    expect(await templateAt()).toBe(clock.now() + 1);
  });

  it("a template whose outcome a kill left unknown and its status settled as sent counts for its window", async () => {
    await wroteAt(clock.now() - 25 * 3600_000);
    // An earlier attempt recorded its intent and died; Meta's status names the part's ledger key.
    expect((await createSendLedger(store, { now: clock.now }).begin("s1#0", 0)).status).toBe("send");
    await storeStatus("wamid.S1", "sent", { biz_opaque_callback_data: "s1#0" });
    const { handler } = handlerFor(template);
    await handler(delivery(reply("first", "s1")));
    expect(graph.sent).toEqual([]);
    expect(await ledgerRow("s1#0")).toMatchObject({ state: "sent" });
    expect((await getContact(store.client, "wa", USER))?.templateAt).toBe(clock.now());
    await handler(delivery(reply("second", "s2")));
    expect(graph.sent).toEqual([]);
  });

  it("a replacement template whose send a kill left unknown is settled as itself: counted, and the reply stops there", async () => {
    await wroteAt(clock.now() - 1000);
    graph.windowClosed.add(USER);
    // An earlier attempt: Meta refused the text (131047), the template went in its place, and the agent died before
    // recording its outcome; the template's status names its own ledger key.
    const ledger = createSendLedger(store, { now: clock.now });
    expect((await ledger.begin("k1#0", 0)).status).toBe("send");
    await ledger.recordFailed("k1#0", 0, "131047: Re-engagement message");
    expect((await ledger.begin("k1#0:instead", 0)).status).toBe("send");
    await storeStatus("wamid.K1", "sent", { biz_opaque_callback_data: "k1#0:instead" });
    await clock.sleep(120_000);
    const { handler } = handlerFor(template);
    await handler(delivery(reply("part one\n\n" + "x".repeat(4100), "k1")));
    expect(graph.requests).toHaveLength(1); // the text of part 0 again (refused); no template, no part 1
    expect(graph.sent).toEqual([]);
    expect(await ledgerRow("k1#0:instead")).toMatchObject({ state: "sent" });
    // The window had its template: the next refused reply gets none.
    await handler(delivery(reply("next", "k2")));
    expect(graph.sent).toEqual([]);
  });

  it("a user message stamped by Meta up to 5 s before our clock's template counts as after it (clocks differ)", async () => {
    const { handler } = handlerFor(template);
    await wroteAt(clock.now() - 25 * 3600_000);
    await handler(delivery(reply("first", "k1")));
    await wroteAt(clock.now() - 3000); // Meta's time of the user's answer, behind ours
    await clock.sleep(25 * 3600_000);
    await handler(delivery(reply("a day later", "k2")));
    expect(graph.sent.map((m) => m.type)).toEqual(["template", "template"]);
  });
});

describe("egress pacing and retries (B7)", () => {
  it("20 replies to one user respect the pair rate (≥ 6 s apart)", async () => {
    await wroteAt(clock.now());
    const { handler } = handlerFor();
    for (let i = 0; i < 20; i++) await handler(delivery(reply(`answer ${i}`, `p${i}`)));
    expect(graph.sent.map((s) => s.text)).toEqual(Array.from({ length: 20 }, (_, i) => `answer ${i}`));
    const gaps = graph.sent.slice(1).map((s, i) => s.at - graph.sent[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(6000);
  });

  it("131056 (pair rate hit) is retried after 4^X s: 4 s, then 16 s", async () => {
    await wroteAt(clock.now());
    graph.script((_req, i) => (i < 2 ? graphErrors.pairRate() : undefined));
    const { handler } = handlerFor(undefined, 0);
    await handler(delivery(reply("finally", "q1")));
    const attempts = graph.requests.map((r) => r.at - graph.requests[0]!.at);
    expect(attempts).toEqual([0, 4000, 20000]);
    expect(graph.sent.map((s) => s.text)).toEqual(["finally"]);
  });

  // 131048 is a limit on the business number too ("how many messages can be sent from this phone number").
  const numberLimits = [
    ["130429 (throughput)", graphErrors.throughput],
    ["131048 (spam rate)", graphErrors.spamRate],
  ] as const;
  for (const [what, error] of numberLimits) {
    it(`${what} is retried with back-off and holds every chat`, async () => {
      await wroteAt(clock.now());
      await wroteAt(clock.now(), "15550002222");
      graph.script((_req, i) => (i === 0 ? error() : undefined));
      // A wait the test releases: the first reply waits out its back-off in its handler.
      const virtual = clock;
      const waiting: (() => void)[] = [];
      clock = { ...virtual, sleep: (ms, signal) => new Promise((r) => waiting.push(() => void virtual.sleep(ms, signal).then(r))) };
      const { handler } = handlerFor(undefined, 0);
      const first = handler(delivery(reply("first", "t1")));
      await until(() => waiting.length === 1, 5_000, "the first reply's back-off");
      const failedAt = graph.requests[0]!.at;
      await virtual.sleep(500); // past the 12.5 ms global gap, over a second before the back-off ends
      // The other user's reply goes back to the bus until the back-off ends (not counted), rather than wait for it
      // in a consumer slot.
      const other = delivery(reply("other user", "t2", "15550002222"));
      const handedBack = await handler(other).then(() => undefined, (err: { retryAt?: number; uncounted?: boolean }) => err);
      expect(handedBack).toMatchObject({ uncounted: true });
      expect(handedBack!.retryAt! - failedAt).toBeGreaterThanOrEqual(2000);
      expect(graph.requests).toHaveLength(1); // only the failed attempt
      /** Releases the waits until `p` is done. */
      const released = async (p: Promise<void>) => {
        let done = false;
        const end = p.finally(() => void (done = true));
        while (!done) {
          waiting.shift()?.();
          await new Promise((r) => setTimeout(r, 5));
        }
        await end;
      };
      await released(first);
      await virtual.sleep(handedBack!.retryAt! - virtual.now()); // the bus gives it back then
      await released(handler({ ...other, fence: ++fence }));
      const [failed, ...later] = graph.requests;
      for (const r of later) expect(r.at - failed!.at).toBeGreaterThanOrEqual(2000);
      expect(graph.sent.map((s) => s.text).sort()).toEqual(["first", "other user"]);
    });
  }

  // The sends to other users that had already taken a later slot of the number's rate went out during the back-off.
  it("130429 holds the number's sends already queued for a slot too (real clock: five users at 5 messages/s)", async () => {
    await graph.close();
    graph = await startFakeGraph({ accessToken: TOKEN });
    clock = { now: Date.now, sleep, slept: [] };
    const users = ["15550001001", "15550001002", "15550001003", "15550001004", "15550001005"];
    for (const u of users) await wroteAt(clock.now(), u);
    graph.script((_req, i) => (i === 0 ? graphErrors.throughput() : undefined)); // back-off for attempt 1: 2 s
    const { handler } = handlerFor(undefined, 6000, 5);
    await Promise.all(users.map((u, i) => handler(delivery(reply(`answer ${i}`, `n${i}`, u)))));
    expect(graph.sent).toHaveLength(5);
    const [refused, ...later] = graph.requests;
    for (const r of later) expect(r.at - refused!.at).toBeGreaterThanOrEqual(2_000 - 10);
  }, 20_000);

  it("190 (token refused) holds the reply, never drops it: every chat waits, then the bus gets it back; sent once fixed", async () => {
    await wroteAt(clock.now());
    let tokenFixed = false;
    graph.script(() => (tokenFixed ? undefined : graphErrors.expiredToken()));
    const { handler } = handlerFor(undefined, 0);
    const d = delivery(reply("your order shipped", "k1"));
    const err = await handler(d).then(() => undefined, (e: Error & { retryAt?: number }) => e);
    expect(err?.message).toMatch(/send not done \(190: .*5 attempts\); the bus retries later/);
    const attempts = graph.requests.map((r) => r.at - graph.requests[0]!.at);
    expect(attempts).toEqual([0, 30_000, 90_000, 210_000, 450_000]);
    expect(await ledgerRow("k1#0")).toMatchObject({ state: "failed" }); // the intent released: may be sent again
    tokenFixed = true; // the operator put the new token in: the bus redelivers the reply when the hold ends
    await clock.sleep(err!.retryAt! - clock.now());
    await handler({ ...d, attempt: 2 });
    expect(graph.sent.map((s) => s.text)).toEqual(["your order shipped"]);
  });

  it("368 (account blocked for a policy violation) holds every reply like a refused token, never drops it", async () => {
    await wroteAt(clock.now());
    graph.script(() => ({
      status: 403,
      body: {
        error: {
          message: "(#368) Temporarily blocked for policies violations",
          type: "OAuthException",
          code: 368,
          fbtrace_id: "Ab368",
        },
      },
    }));
    const { handler } = handlerFor(undefined, 0);
    await expect(handler(delivery(reply("your order shipped", "b1")))).rejects.toThrow(
      /send not done \(368: .*5 attempts\); the bus retries later/,
    );
    expect(graph.requests.map((r) => r.at - graph.requests[0]!.at)).toEqual([0, 30_000, 90_000, 210_000, 450_000]);
    expect(await ledgerRow("b1#0")).toMatchObject({ state: "failed" });
  });

  it("131026 (undeliverable) is not retried", async () => {
    await wroteAt(clock.now());
    graph.script(() => graphErrors.undeliverable());
    const { handler } = handlerFor(undefined, 0);
    await handler(delivery(reply("lost cause", "u1")));
    expect(graph.requests).toHaveLength(1);
    expect(await ledgerRow("u1#0")).toMatchObject({
      state: "failed",
      last_error: expect.stringContaining("131026"),
    });
  });

  it("a reply to a username user goes to their BSUID (`recipient`); 131062 (not for a BSUID) is not retried", async () => {
    const BSUID = "US.13491208655302741918";
    await wroteAt(clock.now(), BSUID);
    const { handler } = handlerFor(undefined, 0);
    await handler(delivery(reply("Your order shipped.", "b1", BSUID)));
    expect(graph.requests.map((r) => [r.body["to"], r.body["recipient"]])).toEqual([[undefined, BSUID]]);
    expect(graph.sent.map((s) => [s.to, s.text])).toEqual([[BSUID, "Your order shipped."]]);
    graph.script(() => graphErrors.notForBsuid());
    await handler(delivery(reply("Another one.", "b2", BSUID)));
    expect(graph.requests).toHaveLength(2);
    expect(await ledgerRow("b2#0")).toMatchObject({ state: "failed", last_error: expect.stringContaining("131062") });
  });
});
