// During a rolling restart (`aideazz systemd restart` upgrades one agent at a time, and may stop half way) a channel
// agent of the previous release consumes the newer orchestrator's replies. One it cannot read only because it
// carries a value a later release added (a new reply kind, as "progress" once was) waits on the bus, uncounted,
// for the agent's upgrade, with one warning; a malformed one is still dead-lettered at once.
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createEgressHandler } from "../../src/agents/channel/egress.ts";
import { NEWER_RELEASE_RETRY_MS } from "../../src/bus/envelopes.ts";
import type { ChannelTransport } from "../../src/agents/channel/outcome.ts";
import { createPacer } from "../../src/agents/channel/pacer.ts";
import { createSendLedger } from "../../src/bus/mod.ts";
import { PermanentError, RetryLaterError } from "../../src/bus/types.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { virtualClock } from "./clock.ts";
import { delivery, reply } from "./deliveries.ts";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-newer-egress-")));
afterAll(() => cleanup());
beforeEach(async () => {
  store = await openStore({ url: `file:${join(dir, "e.db")}` });
  await migrate(store.client);
});
afterEach(() => store.close());

function setup() {
  const clock = virtualClock();
  const sent: string[] = [];
  const logs: string[] = [];
  const transport: ChannelTransport<string> = {
    plan: (r) => Promise.resolve({ parts: [r.text] }),
    send(part) {
      sent.push(part);
      return Promise.resolve({ kind: "sent", platformId: `p${sent.length}` });
    },
  };
  const handler = createEgressHandler({
    channel: "telegram",
    transport,
    ledger: createSendLedger(store, { now: clock.now }),
    resendUnknown: false,
    pacer: createPacer({ perKeyMs: 1000, perSecond: 30, now: clock.now, sleep: clock.sleep }),
    log: createLogger({ agent: "x", secrets: [], write: (l) => logs.push(l) }),
    metrics: createMetrics(),
    now: clock.now,
    maxAttempts: 3,
    markInactive: () => Promise.resolve(),
  });
  return { handler, sent, logs, clock };
}

const withKind = (kind: unknown) => ({ ...reply("Welcome back, Maria!"), kind }) as unknown as ReturnType<typeof reply>;

describe("a channel agent of the previous release during the rolling restart", () => {
  it("keeps a reply whose kind only a newer release knows for the upgraded agent: uncounted, 30 s on, warned once", async () => {
    const { handler, sent, logs, clock } = setup();
    const errors = [];
    for (let i = 0; i < 2; i++) errors.push(await handler(delivery(withKind("welcome_back"))).catch((e: unknown) => e));
    expect(sent).toEqual([]); // not sent as something it may not be
    for (const err of errors) {
      expect(err).toBeInstanceOf(RetryLaterError);
      expect(err).toMatchObject({ uncounted: true, retryAt: clock.now() + NEWER_RELEASE_RETRY_MS });
    }
    const warnings = logs.filter((l) => l.includes("from a newer aideazz: upgrade this agent"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("kind=welcome_back");
  });

  it("still dead-letters a malformed reply at once: a mistyped kind, or a new kind with a required field missing", async () => {
    const { handler, sent } = setup();
    const mistyped = await handler(delivery(withKind(5))).catch((e: unknown) => e);
    expect(mistyped).toBeInstanceOf(PermanentError);
    const { chatId: _, ...noChat } = withKind("welcome_back");
    const missing = await handler({ ...delivery(reply("x")), payload: noChat as never }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PermanentError);
    expect((missing as Error).message).toMatch(/^outbound reply is malformed: /);
    expect(sent).toEqual([]);
  });
});
