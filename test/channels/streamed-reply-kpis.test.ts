// A Telegram reply streamed progressively (the default with a streaming provider: Groq, llama.cpp) is posted by its
// first partial and finished by an edit: it counts in aideazz_messages_out_total and aideazz_reply_latency_ms like a
// reply sent whole, so the dashboard's and `aideazz stats`' reply p50/p99 and "messages out" include the model's
// answers.
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createEgressHandler } from "../../src/agents/channel/egress.ts";
import { createPacer } from "../../src/agents/channel/pacer.ts";
import { createProgressive, type EditingTransport } from "../../src/agents/channel/progressive.ts";
import { createSendLedger } from "../../src/bus/mod.ts";
import { createLogger } from "../../src/log.ts";
import { M } from "../../src/metrics/names.ts";
import { createMetrics, type Metrics } from "../../src/metrics/registry.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { virtualClock } from "./clock.ts";
import { delivery, reply } from "./deliveries.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let n = 0;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-stream-kpi-")));
afterAll(() => cleanup());
beforeEach(async () => {
  store = await openStore({ url: `file:${join(dir, `s${n++}.db`)}` });
  await migrate(store.client);
});
afterEach(() => store.close());

function setup() {
  const clock = virtualClock();
  let sends = 0;
  // The Bot API: every sendMessage and editMessageText accepted.
  const transport: EditingTransport<string> = {
    textOf: (t) => t,
    plan: (r) => Promise.resolve({ parts: [r.text] }),
    send: () => Promise.resolve({ kind: "sent", platformId: `m${sends++}` }),
    edit: (_p, id) => Promise.resolve({ kind: "sent", platformId: id }),
    remove: (id) => Promise.resolve({ kind: "sent", platformId: id }),
  };
  const ledger = createSendLedger(store, { now: clock.now });
  const log = createLogger({ agent: "x", secrets: [], write: () => {} });
  const metrics = createMetrics();
  const pacer = createPacer({ perKeyMs: 1000, perSecond: 30, now: clock.now, sleep: clock.sleep });
  const common = { transport, ledger, pacer, log, metrics, now: clock.now, maxAttempts: 3, markInactive: () => Promise.resolve() };
  const progressive = createProgressive({ ...common, platform: "telegram", editIntervalMs: 1000, sleep: clock.sleep });
  const handler = createEgressHandler({ ...common, channel: "telegram", resendUnknown: false, progressive });
  return { handler, clock, metrics };
}

function counted(metrics: Metrics) {
  const snap = metrics.snapshot();
  return {
    messagesOut: snap.filter((s) => s.name === M.messagesOut).reduce((a, s) => a + s.value, 0),
    replyLatencyObservations: snap.filter((s) => s.name === M.replyLatency).reduce((a, s) => a + s.value, 0),
  };
}

describe("KPIs of a streamed (progressive) Telegram reply", () => {
  it("control: a reply sent whole is one message out and one reply-latency observation", async () => {
    const { handler, clock, metrics } = setup();
    const receivedAt = clock.now();
    await clock.sleep(3_000);
    await handler(delivery(reply("The whole answer.", "r", "c1", { receivedAt })));
    expect(counted(metrics)).toEqual({ messagesOut: 1, replyLatencyObservations: 1 });
  });

  it("a streamed reply (first partial posted, final text by an edit) is counted and timed like any reply", async () => {
    const { handler, clock, metrics } = setup();
    const receivedAt = clock.now();
    await clock.sleep(1_500);
    await handler(delivery(reply("Partial text", "r", "c1", { partial: 1, receivedAt })));
    await clock.sleep(2_000);
    await handler(delivery(reply("Partial text and the rest.", "r", "c1", { streamed: true, receivedAt })));
    // The user got one message (posted, then edited to the full text): one reply out, one latency.
    expect(counted(metrics)).toEqual({ messagesOut: 1, replyLatencyObservations: 1 });
  });
});
