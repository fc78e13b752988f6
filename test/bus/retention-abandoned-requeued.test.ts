// Retention's hourly pass moves the replies of a removed channel agent that are over an hour old to the dead letters,
// keeping younger ones of the same chat queued (a rolling deploy may add the agent back). A dead letter retried with
// `bus dlq retry` goes to the end of its chat's queue with its old id: moving it while a younger reply ahead of it
// stays cut the chat's queue in two, and the chat's next reply became a second head, handed out beside the first.
import { afterEach, describe, expect, it } from "vitest";
import { createRetention, createSqliteBus, PermanentError } from "../../src/bus/mod.ts";
import { fakeClock, waitFor } from "./contract.ts";
import { count, freshDb, type TestDb } from "./helpers.ts";

const HOUR = 3_600_000;

describe("retention of an abandoned topic and a dead letter retried into it", () => {
  let db: TestDb | undefined;
  afterEach(async () => await db?.cleanup());

  it("keeps what waits behind a reply it keeps: the chat's queue stays one queue, with one head", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now, wake: { watch: false } });
    await bus.subscribe("outbound.old", "egress");
    const [first] = await bus.publish([{ topic: "outbound.old", key: "chat", payload: 1 }]);
    const c = bus.consume({
      topic: "outbound.old",
      group: "egress",
      handler: () => Promise.reject(new PermanentError("bad")),
    });
    await waitFor(async () => (await bus.deadLetters()).length === 1, "the dead letter");
    await c.stop();
    clock.advance(2 * HOUR);
    await bus.publish([{ topic: "outbound.old", key: "chat", payload: 2 }]);
    expect(await bus.retryDeadLetter(first!.id)).toBe(true); // queued behind reply 2
    clock.advance(HOUR / 2);
    const retention = createRetention(db.store, {
      now: clock.now,
      abandoned: () => Promise.resolve([{ topic: "outbound.old", reason: "agent removed" }]),
    });
    await retention.runOnce();
    await bus.publish([{ topic: "outbound.old", key: "chat", payload: 3 }]);
    expect(await count(db.store, "SELECT count(*) FROM bus_deliveries WHERE okey = 'chat' AND head = 1")).toBe(1);
    expect(await count(db.store, "bus_deliveries")).toBe(3);
    await bus.close();
  });
});
