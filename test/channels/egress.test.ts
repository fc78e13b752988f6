// The shared egress handler on a real store and send ledger, with a scripted transport and hand-made
// deliveries: the lease is asserted before every external send, a part is sent at most once per reply key,
// back-off happens inside the handler, and a replacement (WhatsApp's template) stands for the whole reply. One
// test uses the real Telegram transport against the fake Bot API: a lease lost mid-send does not abort the call.
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createEgressHandler, SendRetryLaterError } from "../../src/agents/channel/egress.ts";
import type { OutboundReply } from "../../src/bus/envelopes.ts";
import type { ChannelTransport, SendOutcome } from "../../src/agents/channel/outcome.ts";
import { createPacer } from "../../src/agents/channel/pacer.ts";
import { createTelegramApi } from "../../src/agents/telegram/api.ts";
import { createTelegramTransport } from "../../src/agents/telegram/send.ts";
import { createSendLedger } from "../../src/bus/mod.ts";
import { LeaseLostError, PermanentError } from "../../src/bus/types.ts";
import { createLogger } from "../../src/log.ts";
import { M } from "../../src/metrics/names.ts";
import { createMetrics, type Metrics } from "../../src/metrics/registry.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { virtualClock } from "./clock.ts";
import { delivery, reply } from "./deliveries.ts";
import { until } from "./harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let n = 0;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-egress-")));
afterAll(() => cleanup());
beforeEach(async () => {
  store = await openStore({ url: `file:${join(dir, `e${n++}.db`)}` });
  await migrate(store.client);
});
afterEach(() => store.close());

/** The sum of counter `name`'s series whose labels include `labels`. */
function counted(metrics: Metrics, name: string, labels: Record<string, string> = {}): number {
  return metrics.snapshot()
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + (s.value ?? 0), 0);
}

function setup(
  outcomes: SendOutcome<string>[],
  o: {
    resendUnknown?: boolean;
    parts?: string[];
    transport?: ChannelTransport<string>;
    onReplyDone?: (r: OutboundReply) => void;
  } = {},
) {
  const clock = virtualClock();
  const sent: string[] = [];
  const inactive: string[] = [];
  const transport: ChannelTransport<string> = o.transport ?? {
    plan: (r) => Promise.resolve({ parts: o.parts ?? [r.text] }),
    send(part) {
      const next = outcomes.shift() ?? { kind: "sent", platformId: `p${sent.length}` };
      if (next.kind === "sent") sent.push(part);
      return Promise.resolve(next);
    },
  };
  const ledger = createSendLedger(store, { now: clock.now });
  const metrics = createMetrics();
  const handler = createEgressHandler({
    channel: "telegram",
    transport,
    ledger,
    resendUnknown: o.resendUnknown ?? false,
    pacer: createPacer({ perKeyMs: 1000, perSecond: 30, now: clock.now, sleep: clock.sleep }),
    log: createLogger({ agent: "x", secrets: [], write: () => {} }),
    metrics,
    now: clock.now,
    maxAttempts: 3,
    markInactive: (chatId) => Promise.resolve(void inactive.push(chatId)),
    ...(o.onReplyDone ? { onReplyDone: o.onReplyDone } : {}),
  });
  return { handler, sent, inactive, clock, ledger, metrics };
}

describe("egress handler", () => {
  it("asserts the lease before the external send: a lost lease sends nothing and releases its intent", async () => {
    const { handler, sent } = setup([]);
    await expect(handler(delivery(reply("hi"), { lost: true }))).rejects.toBeInstanceOf(LeaseLostError);
    expect(sent).toEqual([]);
    // The lease's next holder sends it (a stranded intent would answer "pending", then "unknown": never sent).
    await handler(delivery(reply("hi"), { fence: 2 }));
    expect(sent).toEqual(["hi"]);
  });

  it("a redelivered reply (same reply key, newer fence) is not sent again", async () => {
    const { handler, sent, metrics } = setup([]);
    await handler(delivery(reply("hi"), { fence: 1 }));
    await handler(delivery(reply("hi"), { fence: 2 }));
    expect(sent).toEqual(["hi"]);
    expect(counted(metrics, M.duplicatesSuppressed, { stage: "send" })).toBe(1);
    expect(counted(metrics, M.sendErrors)).toBe(0);
  });

  it("a lease lost while the send is on the wire does not abort it: the outcome is recorded, never sent twice", async () => {
    const token = "7111222333:AAH-fake-token-for-lease-lost-test";
    const fake = await startFakeTelegram({ token });
    try {
      fake.delay("sendMessage", () => 300);
      const api = createTelegramApi(token, fake.apiRoot, fetch);
      const transport = createTelegramTransport({ api, client: store.client, agent: "x" });
      const { handler, ledger } = setup([], { transport });
      const lease = new AbortController();
      const r = { ...reply("on the wire"), chatId: "42" };
      const first = handler(delivery(r, { fence: 1, signal: lease.signal }));
      await until(() => fake.callsOf("sendMessage").length === 1);
      lease.abort(new LeaseLostError(1, 1)); // the heartbeat found the lease gone mid-call
      await first;
      expect(fake.sent.map((s) => s.text)).toEqual(["on the wire"]);
      expect(await ledger.wasSent("k1#0")).toBe(String(fake.sent[0]!.messageId));
      await handler(delivery(r, { fence: 2 })); // the next holder of the lease
      expect(fake.sent).toHaveLength(1);
    } finally {
      await fake.close();
    }
  });

  it("a multi-part reply interrupted after part 1 resumes at part 2 on redelivery", async () => {
    const { handler, sent } = setup([
      { kind: "sent" },
      { kind: "retry", afterMs: 10, scope: "chat", reason: "5xx" },
      { kind: "retry", afterMs: 10, scope: "chat", reason: "5xx" },
      { kind: "retry", afterMs: 10, scope: "chat", reason: "5xx" },
    ], { parts: ["one", "two", "three"] });
    await expect(handler(delivery(reply("x"), { fence: 1 }))).rejects.toBeInstanceOf(SendRetryLaterError);
    expect(sent).toEqual(["one"]);
    await handler(delivery(reply("x"), { fence: 2 }));
    expect(sent).toEqual(["one", "two", "three"]);
  });

  it("waits out retry outcomes inside the handler (429 retry_after) and records the intent as released meanwhile", async () => {
    const { handler, sent, clock } = setup([{ kind: "retry", afterMs: 5000, scope: "chat", reason: "429" }]);
    const t0 = clock.now();
    await handler(delivery(reply("later")));
    expect(sent).toEqual(["later"]);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(5000);
  });

  it("a retry_after met on the last attempt holds the chat for the bus's redelivery too (sent only after it)", async () => {
    const flood: SendOutcome<string> = { kind: "retry", afterMs: 30_000, scope: "chat", reason: "429: retry after 30" };
    const done: string[] = [];
    // maxAttempts 3
    const { handler, sent, clock } = setup([flood, flood, flood], { onReplyDone: (r) => done.push(r.text) });
    await expect(handler(delivery(reply("flooded")))).rejects.toBeInstanceOf(SendRetryLaterError);
    const refusedAt = clock.now();
    await clock.sleep(1_000); // the bus's first retry delay
    // Too early: back to the bus until the back-off ends, not counted, without waiting in a consumer slot; not done
    // either (its typing indicator goes on).
    await expect(handler(delivery(reply("flooded"), { fence: 2, attempt: 2 }))).rejects.toMatchObject({
      uncounted: true,
      retryAt: refusedAt + 30_000,
    });
    expect(clock.now() - refusedAt).toBe(1_000);
    expect(done).toEqual(["flooded"]); // the first delivery's end only
    await clock.sleep(29_000);
    await handler(delivery(reply("flooded"), { fence: 3, attempt: 2 }));
    expect(sent).toEqual(["flooded"]);
  });

  it("an intent whose outcome was never recorded (crash mid-send) is skipped: at most once, counted as a send error", async () => {
    const { handler, sent, ledger, clock, metrics } = setup([]);
    expect(await ledger.begin("k1#0", 1)).toMatchObject({ status: "send" });
    await clock.sleep(61_000);
    await handler(delivery(reply("maybe sent"), { fence: 2 }));
    expect(sent).toEqual([]);
    expect(counted(metrics, M.sendErrors, { platform: "telegram", code: "outcome-unknown" })).toBe(1);
    expect(counted(metrics, M.duplicatesSuppressed)).toBe(0);
  });

  it("with resendUnknown (web chat) the same situation sends again: at least once", async () => {
    const { handler, sent, ledger, clock } = setup([], { resendUnknown: true });
    await ledger.begin("k1#0", 1);
    await clock.sleep(61_000);
    await handler(delivery(reply("stored again"), { fence: 2 }));
    expect(sent).toEqual(["stored again"]);
  });

  it("an attempt in flight elsewhere (pending intent) hands the delivery back to the bus", async () => {
    const { handler, sent, ledger } = setup([]);
    await ledger.begin("k1#0", 1);
    await expect(handler(delivery(reply("x"), { fence: 2 }))).rejects.toBeInstanceOf(SendRetryLaterError);
    expect(sent).toEqual([]);
  });

  it("a replacement is sent once for the whole reply, and never replaced again", async () => {
    const { handler, sent } = setup([{ kind: "failed", reason: "131047", instead: "TEMPLATE" }], {
      parts: ["a", "b"],
    });
    await handler(delivery(reply("x")));
    expect(sent).toEqual(["TEMPLATE"]);
    const second = setup([{ kind: "failed", reason: "131047", instead: "TEMPLATE" }, {
      kind: "failed",
      reason: "131047",
      instead: "TEMPLATE",
    }]);
    await second.handler(delivery(reply("y", "k2")));
    expect(second.sent).toEqual([]);
  });

  it("a permanent failure with `inactive` marks the contact and stops the reply", async () => {
    const { handler, sent, inactive } = setup([{ kind: "failed", reason: "403", inactive: true }], {
      parts: ["a", "b"],
    });
    await handler(delivery(reply("x")));
    expect(sent).toEqual([]);
    expect(inactive).toEqual(["c1"]);
  });

  it("refuses a malformed reply as permanent, naming the field (dead-lettered at once: it would never become valid)", async () => {
    const { handler, sent } = setup([]);
    const err = await handler({ ...delivery(reply("x")), payload: { agent: "x" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(/^outbound reply is malformed: chatId: .* \(\d+ problems\)$/);
    expect(sent).toEqual([]);
  });
});
