// A WhatsApp send whose outcome a kill left unknown, settled after a restart during which the wall clock stepped
// back an hour (an NTP step, a VM restored from a snapshot). Judged from the dead process's intent time, the part
// (and its chat's later replies) would wait the hour on top of the status wait: the ledger re-bases such an intent
// to the time the step is noticed, and the part waits the status wait from there. How long the agent was down before is
// unknown, so other statuses arriving meanwhile prove nothing: without its own status it is not sent (at most once).
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { touchInbound } from "../../src/agents/channel/contacts.ts";
import { createEgressHandler, SETTLE_POLL_MS } from "../../src/agents/channel/egress.ts";
import { createPacer } from "../../src/agents/channel/pacer.ts";
import { createGraphClient } from "../../src/agents/whatsapp/graph.ts";
import { createWhatsAppTransport } from "../../src/agents/whatsapp/send.ts";
import { recordStatus, settleSend } from "../../src/agents/whatsapp/statuses.ts";
import type { OutboundReply } from "../../src/bus/envelopes.ts";
import { createSendLedger } from "../../src/bus/mod.ts";
import type { Delivery } from "../../src/bus/types.ts";
import { createLogger } from "../../src/log.ts";
import { M } from "../../src/metrics/names.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { type FakeGraph, startFakeGraph } from "../fakes/graph.ts";
import { tempDir } from "../support/tmp.ts";
import { virtualClock } from "./clock.ts";

const TOKEN = "EAAJB-clock-step-token";
const PNID = "106540352242922";
const USER = "16505551234";
const KEY = "r1#0";
const STATUS_WAIT_MS = 180_000; // whatsapp.statusWaitS's default
const HOUR = 3_600_000;

let dir: string;
let cleanup: () => Promise<void>;
let n = 0;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-wacs-")));
afterAll(() => cleanup());

let store: Store;
let graph: FakeGraph;
let clock: ReturnType<typeof virtualClock>;
let offset = 0; // the clock's steps
const now = () => clock.now() + offset;
beforeEach(async () => {
  clock = virtualClock();
  offset = 0;
  graph = await startFakeGraph({ accessToken: TOKEN, now });
  store = await openStore({ url: `file:${join(dir, `cs-${n++}.db`)}` });
  await migrate(store.client);
  await store.client.execute(touchInbound("wa", USER, now(), now()));
});
afterEach(async () => {
  store.close();
  await graph.close();
});

const reply: OutboundReply = {
  agent: "wa",
  chatId: USER,
  text: "Your card arrives in 3 to 5 working days.",
  inReplyTo: [1],
  replyKey: "r1",
  kind: "answer",
};

/** A status webhook as ingress stores it. */
const status = (messageId: string, callback: string) =>
  store.client.execute(recordStatus("wa", {
    id: messageId,
    status: "sent",
    timestamp: String(Math.floor(now() / 1000)),
    recipient_id: USER,
    biz_opaque_callback_data: callback,
  }, now()));

/** The egress handler of the restarted agent; `onLook` runs after each of its 5 s looks for the part's status. */
function restarted(onLook: (look: number) => Promise<unknown>) {
  const metrics = createMetrics();
  let looks = 0;
  const handler = createEgressHandler({
    channel: "whatsapp",
    transport: createWhatsAppTransport({
      graph: createGraphClient({ baseUrl: graph.baseUrl, phoneNumberId: PNID, accessToken: TOKEN, fetch }),
      client: store.client,
      agent: "wa",
      now,
      template: undefined,
    }),
    ledger: createSendLedger(store, { now }),
    resendUnknown: false,
    settle: (key, since) => settleSend(store.client, { agent: "wa", waitMs: STATUS_WAIT_MS }, key, since, now()),
    unknownsKeptMs: STATUS_WAIT_MS,
    pacer: createPacer({ perKeyMs: 0, perSecond: 80, now, sleep: clock.sleep }),
    sleep: async (ms, signal) => {
      // A bound for the test only: without the fix the loop runs for the hour.
      if (++looks > 2 * HOUR / SETTLE_POLL_MS) throw new Error("still waiting after 2 h");
      await clock.sleep(ms, signal);
      await onLook(looks);
    },
    log: createLogger({ agent: "wa", secrets: [TOKEN], write: () => {} }),
    metrics,
    now,
    markInactive: () => Promise.resolve(),
  });
  const unknowns = () =>
    metrics.snapshot().filter((s) => s.name === M.sendErrors && s.labels["code"] === "outcome-unknown")
      .reduce((sum, s) => sum + (s.value ?? 0), 0);
  return { handler, unknowns };
}

const delivery = (): Delivery => ({
  id: 1,
  topic: "outbound.wa",
  group: "egress",
  key: `wa:${USER}`,
  payload: reply as never,
  traceId: undefined,
  attempt: 2,
  publishedAt: 0,
  fence: 7,
  signal: new AbortController().signal,
  extendLease: () => Promise.resolve(),
  assertLease: () => Promise.resolve(),
  underLease: (write) => write([]),
  ackWith: () => {
    throw new Error("egress records its sends itself");
  },
});

const LEDGER_ROW = "SELECT state, platform_id FROM bus_send_ledger WHERE reply_key = ?";
const ledgerRow = async () => ({ ...(await store.client.execute({ sql: LEDGER_ROW, args: [KEY] })).rows[0] });

/** The dead process records its intent and is killed; the clock steps back an hour while the agent restarts. */
async function killedThenSteppedBack() {
  expect((await createSendLedger(store, { now }).begin(KEY, 1)).status).toBe("send");
  await clock.sleep(5_000);
  offset -= HOUR;
  await clock.sleep(40_000); // the lease expires, the reply is delivered again to the new process
  return now();
}

it("no status for it: decided after the status wait, not the hour; others' statuses prove nothing: not sent", async () => {
  const started = await killedThenSteppedBack();
  // Other messages' statuses arrive all along (from 5 s to the end of the wait after the restart): with the
  // intent's time unknown, they cannot show the agent was back soon after it died.
  const { handler, unknowns } = restarted((look) => status(`wamid.OTHER${look}`, `r0#${look}`));
  await handler(delivery());
  expect(now() - started).toBeGreaterThanOrEqual(STATUS_WAIT_MS);
  expect(now() - started).toBeLessThanOrEqual(STATUS_WAIT_MS + SETTLE_POLL_MS);
  expect(graph.sent).toEqual([]);
  expect(await ledgerRow()).toMatchObject({ state: "sending" });
  expect(unknowns()).toBe(1);
});

it("its status arrives during the wait after the restart: settled as sent, not sent again", async () => {
  const started = await killedThenSteppedBack();
  const { handler } = restarted((look) => look === 20 ? status("wamid.MINE", KEY) : Promise.resolve());
  await handler(delivery());
  expect(now() - started).toBe(20 * SETTLE_POLL_MS);
  expect(graph.sent).toEqual([]);
  expect(await ledgerRow()).toEqual({ state: "sent", platform_id: "wamid.MINE" });
});
