// A handler's RetryLaterError.retryAt is any epoch-ms number. On the SQLite bus the retry's due time goes into a
// STRICT INTEGER column: it is rounded up, so a fractional one neither fails the round's whole write (re-sent as it
// was, forever: the consumer acked, retried and claimed nothing more) nor differs from the memory bus.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Bus, type Consumer, createMemoryBus, createSqliteBus, RetryLaterError } from "../../src/bus/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { fakeClock, waitFor } from "./contract.ts";

type Make = (now: () => number) => Promise<{ bus: Bus; cleanup(): Promise<void> }>;
const makers: [string, Make][] = [
  ["memory", (now) => Promise.resolve({ bus: createMemoryBus({ now, random: () => 0.5, pollMs: 10 }), cleanup: () => Promise.resolve() })],
  ["sqlite", async (now) => {
    const tmp = await tempDir("aideazz-review-");
    const store = await openStore({ url: `file:${join(tmp.dir, "bus.db")}` });
    await migrate(store.client);
    const bus = createSqliteBus(store, { now, random: () => 0.5, wake: { fallbackMs: 10, pollMinMs: 2, pollMaxMs: 10 } });
    return { bus, cleanup: async () => (store.close(), await tmp.cleanup()) };
  }],
];

for (const [name, make] of makers) {
  describe(`RetryLaterError with a fractional retryAt (${name} bus)`, () => {
    const consumers: Consumer[] = [];
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.stop(100)));
      await cleanup?.();
    });

    it("is retried at that time, and the consumer's other work goes on", async () => {
      const clock = fakeClock();
      const h = await make(() => clock.now());
      cleanup = async () => (await h.bus.close(), await h.cleanup());
      const { bus } = h;
      await bus.subscribe("t", "g");
      await bus.publish([{ topic: "t", key: "a", payload: "a" }]);
      const seen: string[] = [];
      consumers.push(bus.consume({
        topic: "t",
        group: "g",
        retryBaseMs: 10,
        handler: (d) => {
          seen.push(`${d.payload}#${d.attempt}`);
          if (d.payload === "a" && d.attempt === 1) {
            // e.g. a platform's retry_after of 1.5 s, scaled to ms
            return Promise.reject(new RetryLaterError("429", { retryAt: clock.now() + 1.5 * 1000 + 0.25 }));
          }
          return Promise.resolve();
        },
      }));
      await waitFor(() => seen.includes("a#1"), "first attempt");
      await bus.publish([{ topic: "t", key: "b", payload: "b" }]);
      await waitFor(() => seen.includes("b#1"), "another key's message, handled meanwhile", 3_000);
      clock.advance(2_000);
      await waitFor(() => seen.includes("a#2"), "the retry", 3_000);
      await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "acks", 3_000);
      expect((await bus.stats())[0]).toMatchObject({ ready: 0, delayed: 0, inFlight: 0 });
    });
  });
}
