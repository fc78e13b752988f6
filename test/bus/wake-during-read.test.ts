// A wake-up that arrives while an idle consumer's `nextAt` read is in flight (src/bus/consumer.ts step()) is not lost:
// on a libSQL server that read is a network round trip, and publishes of the same process wake consumers directly.
import { afterEach, describe, expect, it } from "vitest";
import { startConsumer } from "../../src/bus/consumer.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { createSqliteQueue } from "../../src/bus/sqlite-queue.ts";
import { createWakeHub } from "../../src/bus/wake.ts";
import { sleep, waitFor } from "../bus/contract.ts";
import { freshDb, type TestDb } from "../bus/helpers.ts";

describe("a wake-up during an idle consumer's read", () => {
  let db: TestDb;
  afterEach(async () => await db?.cleanup());

  it("a message published (and notified) while nextAt is in flight is claimed at once, not at the next idle poll", async () => {
    db = await freshDb();
    // As on a libSQL server: no wake directory, consumers poll adaptively (2 ms doubling to 100 ms) between wake-ups.
    const hub = createWakeHub(undefined);
    const inner = createSqliteQueue(db.store.client);
    let hold: { started(): void; gate: Promise<void> } | undefined;
    const queue = {
      ...inner,
      async nextAt(topic: string, group: string) {
        const next = await inner.nextAt(topic, group);
        const h = hold;
        hold = undefined;
        if (h) {
          h.started(); // the read has its answer; the response is still on the wire
          await h.gate;
        }
        return next;
      },
    };
    const publisher = createSqliteBus(db.store, { wake: { watch: false } });
    await publisher.subscribe("t", "g");
    const handledAt: number[] = [];
    const consumer = startConsumer(
      { queue, hub, now: Date.now, random: () => 0.5, consumerId: "c1" },
      { topic: "t", group: "g", handler: () => Promise.resolve(void handledAt.push(performance.now())) },
    );
    await sleep(600); // idle: its poll is at 100 ms now
    let started!: () => void;
    const inFlight = new Promise<void>((r) => (started = r));
    let open!: () => void;
    hold = { started, gate: new Promise<void>((r) => (open = r)) };
    await inFlight;
    // A publish of this process commits and wakes the topic's local consumers (what bus.publish does).
    await publisher.publish([{ topic: "t", key: "chat", payload: 1 }]);
    hub.notify(["t"]);
    await sleep(5); // the rest of the round trip
    const woken = performance.now();
    open();
    await waitFor(() => handledAt.length === 1, "handled", 2_000);
    const latency = handledAt[0]! - woken;
    await consumer.stop(100);
    await publisher.close();
    hub.close();
    // It waited for the next poll (~100 ms) when the round that was reading cleared the wake-up's mark.
    expect(latency).toBeLessThan(40);
  });
});
