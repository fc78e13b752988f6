// A WhatsApp send whose outcome is unknown (the agent died between recording its intent and recording the
// outcome) is settled by the status webhooks that name it (`biz_opaque_callback_data` = its send-ledger key):
// sent → never sent again; no status while others arrive → it never left, sent once; nothing to go by → at
// most once. First the egress handler with the real Graph client on a virtual clock, statuses stored as
// ingress stores them; then the real agent, with the fake Graph posting its status webhooks (and retrying
// them while the agent is down).
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { touchInbound } from "../../src/agents/channel/contacts.ts";
import { createEgressHandler, SETTLE_POLL_MS } from "../../src/agents/channel/egress.ts";
import { createPacer } from "../../src/agents/channel/pacer.ts";
import { EGRESS_RETRY_MAX_MS } from "../../src/agents/channel/spine.ts";
import { createGraphClient } from "../../src/agents/whatsapp/graph.ts";
import { createWhatsAppTransport } from "../../src/agents/whatsapp/send.ts";
import { recordStatus, settleSend } from "../../src/agents/whatsapp/statuses.ts";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { createSendLedger } from "../../src/bus/mod.ts";
import { type Delivery, HandlerTimeoutError } from "../../src/bus/types.ts";
import { createLogger } from "../../src/log.ts";
import { M } from "../../src/metrics/names.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { type FakeGraph, startFakeGraph } from "../fakes/graph.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { virtualClock } from "./clock.ts";
import { type Channel, startChannel, until, whatsappAgent } from "./harness.ts";

const TOKEN = "EAAJB-unknown-outcome-token";
const APP_SECRET = "meta-app-secret-unknown-outcome";
const PNID = "106540352242922";
const USER = "16505551234";
const KEY = "r1#0";
/** whatsapp.statusWaitS's default, 180 s. */
const STATUS_WAIT_MS = 180_000;

let dir: string;
let cleanup: () => Promise<void>;
let graph: FakeGraph;
let n = 0;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-wau-")));
afterAll(() => cleanup());

const reply = (replyKey = "r1"): OutboundReply => ({
  agent: "wa",
  chatId: USER,
  text: "Your card arrives in 3 to 5 working days.",
  inReplyTo: [1],
  replyKey,
  kind: "answer",
});

type Counted = (name: string, labels: Record<string, string>) => number;

describe("settling unknown outcomes (egress handler, virtual clock)", () => {
  let store: Store;
  let clock: ReturnType<typeof virtualClock>;
  beforeEach(async () => {
    clock = virtualClock();
    graph = await startFakeGraph({ accessToken: TOKEN, now: clock.now });
    store = await openStore({ url: `file:${join(dir, `u-${n++}.db`)}` });
    await migrate(store.client);
    await store.client.execute(touchInbound("wa", USER, clock.now(), clock.now()));
  });
  afterEach(async () => {
    store.close();
    await graph.close();
  });

  /** Actions to run once the virtual clock reaches their time (checked after every wait of the handler). */
  let scheduled: { at: number; run: () => Promise<unknown> }[] = [];
  const looks: number[] = [];

  function setup(fetch = globalThis.fetch.bind(globalThis), waitMs = STATUS_WAIT_MS) {
    scheduled = [];
    looks.length = 0;
    const logs: string[] = [];
    const metrics = createMetrics();
    const ledger = createSendLedger(store, { now: clock.now });
    const client = createGraphClient({
      baseUrl: graph.baseUrl,
      phoneNumberId: PNID,
      accessToken: TOKEN,
      fetch,
    });
    const handler = createEgressHandler({
      channel: "whatsapp",
      transport: createWhatsAppTransport({
        graph: client,
        client: store.client,
        agent: "wa",
        now: clock.now,
        template: undefined,
      }),
      ledger,
      resendUnknown: false,
      settle: (key, since) => settleSend(store.client, { agent: "wa", waitMs }, key, since, clock.now()),
      unknownsKeptMs: waitMs,
      pacer: createPacer({ perKeyMs: 0, perSecond: 80, now: clock.now, sleep: clock.sleep }),
      sleep: async (ms, signal) => {
        looks.push(ms);
        await clock.sleep(ms, signal);
        const due = scheduled.filter((a) => a.at <= clock.now());
        scheduled = scheduled.filter((a) => a.at > clock.now());
        for (const a of due) await a.run();
      },
      log: createLogger({ agent: "wa", secrets: [TOKEN], write: (l) => void logs.push(l) }),
      metrics,
      now: clock.now,
      markInactive: () => Promise.resolve(),
    });
    const counted: Counted = (name, labels) =>
      metrics.snapshot().filter((s) =>
        s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
      )
        .reduce((sum, s) => sum + (s.value ?? 0), 0);
    return { handler, ledger, client, logs, counted };
  }

  let fence = 1;
  const delivery = (): Delivery => ({
    id: 1,
    topic: "outbound.wa",
    group: "egress",
    key: `wa:${USER}`,
    payload: reply() as never,
    traceId: undefined,
    attempt: 2,
    publishedAt: 0,
    fence: ++fence,
    signal: new AbortController().signal,
    extendLease: () => Promise.resolve(),
    assertLease: () => Promise.resolve(),
    underLease: (write) => write([]),
    ackWith: () => {
      throw new Error("egress records its sends itself");
    },
  });
  /** A status webhook as ingress stores it; another message's was sent by this agent too (its ledger row is there). */
  const status = async (messageId: string, s: string, callback?: string) => {
    if (callback !== undefined && callback !== KEY) await createSendLedger(store, { now: clock.now }).recordSent(callback, messageId);
    return await store.client.execute(recordStatus("wa", {
      id: messageId,
      status: s,
      timestamp: String(Math.floor(clock.now() / 1000)),
      recipient_id: USER,
      ...(callback === undefined ? {} : { biz_opaque_callback_data: callback }),
    }, clock.now()));
  };
  const ledgerRow = async () =>
    (await store.client.execute({
      sql: "SELECT state, platform_id FROM bus_send_ledger WHERE reply_key = ?",
      args: [KEY],
    }))
      .rows.map((r) => ({ ...r }))[0];

  it("the request left before the crash: its status settles the part as sent, at once, and it is not sent again", async () => {
    const { handler, ledger, client, counted, logs } = setup();
    // The dead process: intent recorded, the message went out (Graph has it), no outcome recorded.
    expect((await ledger.begin(KEY, 1)).status).toBe("send");
    const wamid = (await client.send(USER, { type: "text", body: reply().text }, undefined, KEY)) as {
      messageId: string;
    };
    expect(graph.sent.map((m) => m.callbackData)).toEqual([KEY]);
    await status(wamid.messageId, "sent", KEY);
    await clock.sleep(2_000);
    await handler(delivery()); // the redelivery, 2 s later: the intent is still "pending"
    expect(graph.sent).toHaveLength(1);
    expect(await ledgerRow()).toEqual({ state: "sent", platform_id: wamid.messageId });
    expect(counted(M.duplicatesSuppressed, { stage: "send" })).toBe(1);
    expect(counted(M.sendErrors, { code: "outcome-unknown" })).toBe(0);
    expect(logs.join("\n")).toContain("send outcome settled by the platform: it was sent");
  });

  it("no status for it yet: the part waits in the handler, looking every 5 s, until its late status settles it", async () => {
    const { handler, ledger } = setup();
    const since = clock.now();
    await ledger.begin(KEY, 1);
    await clock.sleep(2_000); // "pending", then "unknown" for the ledger after 60 s: its status may still come
    scheduled.push({ at: since + 150_000, run: () => status("wamid.LATE", "delivered", KEY) });
    await handler(delivery());
    expect(graph.sent).toEqual([]);
    expect(await ledgerRow()).toEqual({ state: "sent", platform_id: "wamid.LATE" });
    expect(clock.now() - since).toBeGreaterThanOrEqual(150_000);
    expect(clock.now() - since).toBeLessThan(150_000 + SETTLE_POLL_MS);
    expect(new Set(looks)).toEqual(new Set([SETTLE_POLL_MS])); // on the handler's own timer, not the bus's retries
  });

  it("no status for it, while the agent took other statuses soon after the crash: it never left, sent once", async () => {
    const { handler, ledger, logs } = setup();
    const since = clock.now();
    await ledger.begin(KEY, 1);
    await clock.sleep(61_000);
    scheduled.push({ at: since + 65_000, run: () => status("wamid.OTHER", "sent", "r0#0") }); // another message's
    await handler(delivery());
    expect(graph.sent).toEqual([expect.objectContaining({ text: reply().text, callbackData: KEY })]);
    expect(graph.sent[0]!.at - since).toBeGreaterThanOrEqual(STATUS_WAIT_MS);
    expect(await ledgerRow()).toEqual({ state: "sent", platform_id: graph.sent[0]!.id });
    expect(logs.join("\n")).toContain("it never left; sending it");
    await handler(delivery()); // and once only
    expect(graph.sent).toHaveLength(1);
  });

  it("a shorter status wait (whatsapp.statusWaitS 60) sends a part that never left after 60 s, not 3 minutes", async () => {
    const { handler, ledger } = setup(undefined, 60_000);
    const since = clock.now();
    await ledger.begin(KEY, 1);
    await clock.sleep(2_000);
    scheduled.push({ at: since + 20_000, run: () => status("wamid.OTHER", "sent", "r0#0") }); // back within 10–30 s
    await handler(delivery());
    expect(graph.sent).toEqual([expect.objectContaining({ text: reply().text, callbackData: KEY })]);
    expect(graph.sent[0]!.at - since).toBeGreaterThanOrEqual(60_000);
    expect(graph.sent[0]!.at - since).toBeLessThan(60_000 + SETTLE_POLL_MS);
  });

  it("with a 60 s wait, other statuses only after half of it (30 s) prove nothing: at most once", async () => {
    const { handler, ledger, counted, logs } = setup(undefined, 60_000);
    const since = clock.now();
    await ledger.begin(KEY, 1);
    await clock.sleep(35_000);
    await status("wamid.OTHER", "sent", "r0#0");
    await clock.sleep(26_000);
    await expectSkipped(handler, counted, logs);
    expect(clock.now() - since).toBeGreaterThanOrEqual(60_000);
  });

  it("a newer status that came first without the key does not hide it: an older one carrying it fills it in", async () => {
    const { handler, ledger } = setup();
    await ledger.begin(KEY, 1);
    await status("wamid.MINE", "delivered"); // no biz_opaque_callback_data
    await status("wamid.MINE", "sent", KEY);
    expect(
      await store.client.execute("SELECT reply_key, status FROM channel_deliveries").then((r) =>
        r.rows.map((x) => ({ ...x }))
      ),
    )
      .toEqual([{ reply_key: KEY, status: "delivered" }]);
    await clock.sleep(2_000);
    await handler(delivery());
    expect(graph.sent).toEqual([]);
    expect(await ledgerRow()).toEqual({ state: "sent", platform_id: "wamid.MINE" });
  });

  it("the connection drops after Graph took the message: it is not posted again, its status settles it", async () => {
    let drop = true;
    const { handler, counted } = setup(async (url, init) => {
      const res = await fetch(url, init);
      if (!drop) return res;
      drop = false;
      const { messages } = await res.json();
      scheduled.push({ at: clock.now() + 3_000, run: () => status(messages[0].id, "sent", KEY) });
      const reset = Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" });
      throw new TypeError("fetch failed", { cause: reset });
    });
    await handler({ ...delivery(), attempt: 1 });
    expect(graph.sent).toHaveLength(1);
    expect(await ledgerRow()).toEqual({ state: "sent", platform_id: graph.sent[0]!.id });
    expect(counted(M.duplicatesSuppressed, { stage: "send" })).toBe(1);
  });

  it("a send whose answer never came and that Graph never took: with no status for it in the whole wait, sent again", async () => {
    let drop = true;
    const { handler } = setup(async (url, init) => {
      if (!drop) return await fetch(url, init);
      drop = false; // the request left, the connection dropped before Graph read it: nothing sent, no status
      throw new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) });
    });
    const t0 = clock.now();
    await handler({ ...delivery(), attempt: 1 });
    expect(graph.sent).toHaveLength(1);
    expect(await ledgerRow()).toEqual({ state: "sent", platform_id: graph.sent[0]!.id });
    expect(clock.now() - t0).toBeGreaterThanOrEqual(STATUS_WAIT_MS);
  });

  it("sends left without an answer until the attempts run out: released once settled as not taken, the redelivery sends it", async () => {
    let failures = 5; // the handler's default maxAttempts
    const reset = () => new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) });
    const { handler } = setup(async (url, init) => {
      if (failures-- > 0) throw reset();
      return await fetch(url, init);
    });
    await expect(handler({ ...delivery(), attempt: 1 })).rejects.toThrow(/no answer from the platform, 5 attempts/);
    expect(graph.sent).toHaveLength(0);
    expect(await ledgerRow()).toMatchObject({ state: "failed" });
    await handler(delivery());
    expect(graph.sent).toHaveLength(1);
  });

  /** Sends left without an answer until the bus abandons the handler at its deadline, mid-wait for their status. */
  async function abandonedMidWait(waitMs = STATUS_WAIT_MS, deadlineMs = 600_000) {
    let failures = 5;
    const reset = () => new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) });
    const setUp = setup(async (url, init) => {
      if (failures-- > 0) throw reset();
      return await fetch(url, init);
    }, waitMs);
    // The consumer's deadline (bus.handlerTimeoutMs, default 600 s): each unknown send waits 3 min for its status.
    const ctrl = new AbortController();
    scheduled.push({ at: clock.now() + deadlineMs, run: () => Promise.resolve(ctrl.abort(new HandlerTimeoutError(deadlineMs))) });
    await expect(setUp.handler({ ...delivery(), attempt: 1, signal: ctrl.signal })).rejects.toThrow(HandlerTimeoutError);
    expect(graph.sent).toHaveLength(0);
    return setUp;
  }

  it("sends left without an answer until the bus abandons the handler at its deadline, mid-wait: the redelivery still sends it, once", async () => {
    const { handler } = await abandonedMidWait();
    await handler(delivery());
    expect(graph.sent).toHaveLength(1);
    expect(await ledgerRow()).toEqual({ state: "sent", platform_id: graph.sent[0]!.id });
  });

  // The bus redelivers within its retry delay (at most 64 s for egress): this process remembers its own unanswered
  // sends for the status wait and that delay after the abandoned delivery ended, and no longer (a long-running agent
  // kept them all).
  it("this process remembers its unanswered send for the status wait after the abandoned delivery, then forgets it", async () => {
    const { handler } = await abandonedMidWait();
    await clock.sleep(STATUS_WAIT_MS + EGRESS_RETRY_MAX_MS - 1_000);
    await handler(delivery());
    expect(graph.sent).toHaveLength(1);
  });

  // The shortest settings: whatsapp.statusWaitS 60, bus.handlerTimeoutMs 30000. Cut short at 30 s into the wait, the
  // part's status window (10 to 30 s after the intent) holds no other status: only this process's memory of the send
  // has it sent again. Its redelivery after the 7th attempt comes up to 64 s later, past the 60 s wait.
  it("the shortest status wait: a redelivery after the bus's longest egress retry delay still sends it, once", async () => {
    const { handler } = await abandonedMidWait(60_000, 30_000);
    await clock.sleep(EGRESS_RETRY_MAX_MS);
    await handler(delivery());
    expect(graph.sent).toHaveLength(1);
    expect(await ledgerRow()).toEqual({ state: "sent", platform_id: graph.sent[0]!.id });
  });

  it("a redelivery later than the status wait and the longest retry delay after the abandoned delivery finds it forgotten: at most once, as another process", async () => {
    const { handler, counted, logs } = await abandonedMidWait();
    await clock.sleep(STATUS_WAIT_MS + EGRESS_RETRY_MAX_MS);
    await expectSkipped(handler, counted, logs);
  });

  /** Runs the redelivery and checks the part was skipped as an unknown outcome (at most once). */
  async function expectSkipped(handler: (d: Delivery) => Promise<void>, counted: Counted, logs: string[]) {
    await handler(delivery());
    expect(graph.sent).toEqual([]);
    expect(await ledgerRow()).toMatchObject({ state: "sending" });
    expect(counted(M.sendErrors, { code: "outcome-unknown" })).toBe(1);
    expect(logs.join("\n")).toContain("send outcome unknown");
  }

  it("other statuses only right after the intent (the dying agent's own) prove nothing: at most once", async () => {
    const { handler, ledger, counted, logs } = setup();
    const since = clock.now();
    await ledger.begin(KEY, 1);
    await clock.sleep(5_000);
    await status("wamid.OTHER", "sent", "r0#0");
    await clock.sleep(56_000);
    await expectSkipped(handler, counted, logs);
    expect(clock.now() - since).toBeGreaterThanOrEqual(STATUS_WAIT_MS);
  });

  it("after a long outage, the statuses that come once it is back prove nothing (ours may be in Meta's slower retries): at most once", async () => {
    const { handler, ledger, counted, logs } = setup();
    const since = clock.now();
    await ledger.begin(KEY, 1);
    await clock.sleep(240_000); // the agent is back after 4 minutes and takes other statuses
    await status("wamid.OTHER", "sent", "r0#0");
    await clock.sleep(60_000);
    await expectSkipped(handler, counted, logs);
    expect(clock.now() - since).toBe(300_000); // decided at the first look
  });
});

describe("the real agent with Graph's status webhooks", () => {
  let ch: Channel | undefined;
  afterEach(async () => {
    await ch?.stop();
    ch = undefined;
    await graph.close();
  });

  async function start(port: number, dbFile: string, whatsapp: Record<string, unknown> = {}): Promise<Channel> {
    return await startChannel({
      dir,
      dbFile,
      secrets: { WA_APP_SECRET: APP_SECRET, WA_TOKEN: TOKEN, WA_VERIFY: "verify-unknown" },
      agent: whatsappAgent({
        phoneNumberId: PNID,
        graphBaseUrl: graph.baseUrl,
        whatsapp: { markAsRead: false, ...whatsapp },
      }, { port }),
    });
  }
  const publish = (c: Channel, r: OutboundReply) =>
    c.bus.publish([{ topic: outboundTopic("wa"), key: chatKey("wa", r.chatId), payload: r as never }]);

  it("every send names its ledger key; its sent and delivered statuses are stored under it", async () => {
    graph = await startFakeGraph({ accessToken: TOKEN });
    const port = await freePort();
    graph.deliverStatuses({ url: `http://127.0.0.1:${port}/whatsapp/webhook`, appSecret: APP_SECRET });
    ch = await start(port, `a-${n++}.db`);
    await ch.running.store.client.execute(touchInbound("wa", USER, Date.now(), Date.now()));
    await publish(ch, reply("s1"));
    await until(async () =>
      (await ch!.count("SELECT count(*) FROM channel_deliveries WHERE status = 'delivered'")) === 1
    );
    expect(graph.sent.map((m) => m.callbackData)).toEqual(["s1#0"]);
    expect(await ch.rows("SELECT message_id, reply_key, status FROM channel_deliveries")).toEqual([
      { message_id: graph.sent[0]!.id, reply_key: "s1#0", status: "delivered" },
    ]);
    expect(graph.statusPosts.map((p) => p.attempts)).toEqual([1, 1]);
  });

  it("whatsapp.statusWaitS 60: a send that never left, 70 s after its intent with others' statuses at 20 s, is sent at once", async () => {
    graph = await startFakeGraph({ accessToken: TOKEN });
    const port = await freePort();
    const dbFile = `w-${n++}.db`;
    // The process that died 70 s ago right after recording its intent; the agent was back and took another
    // message's status 20 s after it. With the default wait (180 s) the part would still be waiting.
    const since = Date.now() - 70_000;
    const store = await openStore({ url: `file:${join(dir, dbFile)}` });
    await migrate(store.client);
    await store.client.execute(touchInbound("wa", USER, since, since));
    await createSendLedger(store, { now: () => since }).begin(KEY, 1);
    await store.client.execute(recordStatus("wa", {
      id: "wamid.OTHER",
      status: "sent",
      timestamp: String(Math.floor(since / 1000) + 20),
      recipient_id: USER,
    }, since + 20_000));
    store.close();
    ch = await start(port, dbFile, { statusWaitS: 60 });
    await publish(ch, reply());
    await until(async () => (await ch!.count("SELECT count(*) FROM bus_send_ledger WHERE state = 'sent'")) === 1);
    expect(graph.sent).toEqual([expect.objectContaining({ text: reply().text, callbackData: KEY })]);
    expect(ch.logs.join("\n")).toContain("it never left; sending it");
  });

  it("a crash right after the request left: the statuses, retried until the agent is back, settle it: sent once", async () => {
    graph = await startFakeGraph({ accessToken: TOKEN });
    const port = await freePort();
    const dbFile = `b-${n++}.db`;
    // The process that died: its intent is in the ledger, its request reached Graph, and the status webhooks
    // Graph posted found no agent (connection refused) and are being retried.
    const store = await openStore({ url: `file:${join(dir, dbFile)}` });
    await migrate(store.client);
    await store.client.execute(touchInbound("wa", USER, Date.now(), Date.now()));
    await createSendLedger(store).begin(KEY, 1);
    store.close();
    graph.deliverStatuses({ url: `http://127.0.0.1:${port}/whatsapp/webhook`, appSecret: APP_SECRET });
    const first = await createGraphClient({
      baseUrl: graph.baseUrl,
      phoneNumberId: PNID,
      accessToken: TOKEN,
      fetch,
    })
      .send(USER, { type: "text", body: reply().text }, undefined, KEY);
    expect(first.ok).toBe(true);
    await until(() => graph.statusPosts.every((p) => p.attempts >= 2), 5_000, "failed status deliveries");
    // The agent comes back and the reply is delivered again.
    ch = await start(port, dbFile);
    await publish(ch, reply());
    await until(async () =>
      (await ch!.count("SELECT count(*) FROM bus_send_ledger WHERE state = 'sent'")) === 1
    );
    expect(graph.sent).toHaveLength(1);
    expect(await ch.rows("SELECT platform_id FROM bus_send_ledger WHERE reply_key = ?", KEY)).toEqual([
      { platform_id: graph.sent[0]!.id },
    ]);
    await until(() => graph.statusPosts.every((p) => p.deliveredAt !== undefined), 10_000, "the statuses");
    expect(ch.logs.join("\n")).toContain("send outcome settled by the platform: it was sent");
  });
});
