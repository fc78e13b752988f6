// A dead letter brought back (`bus dlq retry`) does not hand its new lease a fence an old, lost lease already had:
// "A retried dead letter's leases go on from its last fence, so no holder of a lease lost before it died can ack or
// send it." On both buses (the memory bus restarted the fence at 0).
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Bus, type Consumer, createMemoryBus, createSqliteBus, type Delivery, PermanentError } from "../../src/bus/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { fakeClock, sleep, waitFor } from "./contract.ts";

function latch() {
  let open!: () => void;
  const p = new Promise<void>((resolve) => (open = resolve));
  return { wait: () => p, open };
}

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
  describe(`dead letter retried (${name} bus)`, () => {
    const consumers: Consumer[] = [];
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.stop(100)));
      await cleanup?.();
    });

    it("a lease lost before the message died cannot ack the retried dead letter's new delivery", async () => {
      const clock = fakeClock();
      const h = await make(() => clock.now());
      cleanup = async () => (await h.bus.close(), await h.cleanup());
      const { bus } = h;
      await bus.subscribe("t", "g");
      const [m] = await bus.publish([{ topic: "t", key: "k", payload: "m" }]);
      // Consumer 1: its handler hangs past its lease (no heartbeat), then returns (an ack of a lost lease).
      const gate1 = latch();
      let first: Delivery | undefined;
      consumers.push(bus.consume({
        topic: "t",
        group: "g",
        concurrency: 1,
        leaseMs: 1_000,
        heartbeat: false,
        handler: async (d) => {
          first ??= d;
          await gate1.wait();
        },
      }));
      await waitFor(() => first !== undefined, "first delivery");
      clock.advance(1_001);
      // Consumer 2 takes the expired lease over and dead-letters it; then holds the retried dead letter.
      const gate2 = latch();
      const second: Delivery[] = [];
      consumers.push(bus.consume({
        topic: "t",
        group: "g",
        concurrency: 1,
        leaseMs: 60_000,
        handler: async (d) => {
          second.push(d);
          if (second.length === 1) throw new PermanentError("bad");
          await gate2.wait();
        },
      }));
      await waitFor(async () => (await bus.deadLetters()).length === 1, "the dead letter");
      expect(await bus.retryDeadLetter(m!.id)).toBe(true);
      await waitFor(() => second.length === 2, "the retried dead letter's delivery");
      const retried = second[1]!;
      await retried.assertLease();
      // The old handler returns now: its ack must be refused (its lease was lost long ago).
      gate1.open();
      await sleep(100);
      expect((await bus.stats())[0]).toMatchObject({ inFlight: 1 }); // the stale ack deleted nothing
      await expect(retried.assertLease()).resolves.toBeUndefined();
      expect(retried.fence).toBeGreaterThan(first!.fence);
      gate2.open();
    });
  });
}
