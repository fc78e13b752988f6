// Progressive replies (Telegram streaming) and retry_after: a 429 met by the final text sent anew (`:repost`), or by
// the final edit on its last attempt, hands the reply back to the bus holding the chat for retry_after: a redelivery
// before the flood wait is over goes back to the bus until then (`SlotLaterError`), and the Bot API is called only
// after it.
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createEgressHandler } from "../../src/agents/channel/egress.ts";
import type { SendOutcome } from "../../src/agents/channel/outcome.ts";
import { createPacer, SlotLaterError } from "../../src/agents/channel/pacer.ts";
import { createProgressive, EditRetryLaterError, type EditingTransport } from "../../src/agents/channel/progressive.ts";
import { createSendLedger } from "../../src/bus/mod.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { virtualClock } from "../channels/clock.ts";
import { delivery, reply } from "../channels/deliveries.ts";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let n = 0;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-progressive-429-")));
afterAll(() => cleanup());
beforeEach(async () => {
  store = await openStore({ url: `file:${join(dir, `p${n++}.db`)}` });
  await migrate(store.client);
});
afterEach(() => store.close());

const flood: SendOutcome<string> = { kind: "retry", afterMs: 30_000, scope: "chat", reason: "429: retry after 30", code: "429" };

function setup(script: { send: (i: number) => SendOutcome<string>; edit: (i: number) => SendOutcome<string> }) {
  const clock = virtualClock();
  const calls: { what: string; at: number; outcome: string }[] = [];
  let sends = 0;
  let edits = 0;
  const transport: EditingTransport<string> = {
    textOf: (t) => t,
    plan: (r) => Promise.resolve({ parts: [r.text] }),
    send() {
      const o = script.send(sends++);
      calls.push({ what: "send", at: clock.now(), outcome: o.kind });
      return Promise.resolve(o);
    },
    edit() {
      const o = script.edit(edits++);
      calls.push({ what: "edit", at: clock.now(), outcome: o.kind });
      return Promise.resolve(o);
    },
    remove: (id) => Promise.resolve({ kind: "sent", platformId: id }),
  };
  const ledger = createSendLedger(store, { now: clock.now });
  const log = createLogger({ agent: "x", secrets: [], write: () => {} });
  const metrics = createMetrics();
  const pacer = createPacer({ perKeyMs: 1000, perSecond: 30, now: clock.now, sleep: clock.sleep });
  const progressive = createProgressive({
    platform: "telegram",
    transport,
    ledger,
    pacer,
    editIntervalMs: 1000,
    log,
    metrics,
    now: clock.now,
    sleep: clock.sleep,
    maxAttempts: 3,
    markInactive: () => Promise.resolve(),
  });
  const handler = createEgressHandler({
    channel: "telegram",
    transport,
    ledger,
    resendUnknown: false,
    pacer,
    log,
    metrics,
    now: clock.now,
    maxAttempts: 3,
    markInactive: () => Promise.resolve(),
    progressive,
  });
  return { handler, calls, clock };
}

/** A redelivery within the flood wait is handed back until its end; the one then does the work. */
async function redeliverAfterFlood(h: ReturnType<typeof setup>, final: ReturnType<typeof reply>, refusedAt: number) {
  await h.clock.sleep(1_000); // the bus's first retry delay
  const early = await h.handler(delivery(final, { fence: 2, attempt: 2 })).then(() => undefined, (e: unknown) => e);
  expect(early).toBeInstanceOf(SlotLaterError);
  const retryAt = (early as SlotLaterError).retryAt!;
  expect(retryAt - refusedAt).toBeGreaterThanOrEqual(30_000);
  await h.clock.sleep(retryAt - h.clock.now());
  await h.handler(delivery(final, { fence: 3, attempt: 2 })); // handed back uncounted
}

const notEditable: SendOutcome<string> = { kind: "failed", reason: "400: message can't be edited", code: "400" };

describe("progressive replies and retry_after", () => {
  it("the final text sent anew meets a 429: the redelivery does not call sendMessage before retry_after", async () => {
    const h = setup({
      // 0: the partial's post; 1: the repost, flooded; later: accepted
      send: (i) => (i === 1 ? flood : { kind: "sent", platformId: `m${i}` }),
      edit: () => notEditable,
    });
    const { handler, calls, clock } = h;
    await handler(delivery(reply("Partial text", "r", "c1", { partial: 1 })));
    await clock.sleep(2_000);
    await expect(handler(delivery(reply("Partial text and the rest.", "r", "c1", { streamed: true }))))
      .rejects.toBeInstanceOf(EditRetryLaterError);
    const refusedAt = calls.filter((c) => c.what === "send")[1]!.at;
    await redeliverAfterFlood(h, reply("Partial text and the rest.", "r", "c1", { streamed: true }), refusedAt);
    const after = calls.filter((c) => c.at > refusedAt);
    expect(after.length).toBeGreaterThan(0);
    // Every Bot API call to this chat after the 429 comes at least retry_after later.
    expect(Math.min(...after.map((c) => c.at)) - refusedAt).toBeGreaterThanOrEqual(30_000);
  });

  it("the final edit meets a 429 on its last attempt: the redelivery does not edit before retry_after", async () => {
    const h = setup({
      send: (i) => ({ kind: "sent", platformId: `m${i}` }),
      edit: (i) => (i < 3 ? flood : { kind: "sent", platformId: "m0" }),
    });
    const { handler, calls, clock } = h;
    await handler(delivery(reply("Partial text", "r", "c1", { partial: 1 })));
    await clock.sleep(2_000);
    await expect(handler(delivery(reply("Partial text and the rest.", "r", "c1", { streamed: true }))))
      .rejects.toBeInstanceOf(EditRetryLaterError);
    const refusedAt = calls.filter((c) => c.what === "edit")[2]!.at;
    await redeliverAfterFlood(h, reply("Partial text and the rest.", "r", "c1", { streamed: true }), refusedAt);
    const edited = calls.find((c) => c.what === "edit" && c.outcome === "sent")!;
    expect(edited.at - refusedAt).toBeGreaterThanOrEqual(30_000);
  });
});
