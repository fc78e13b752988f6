// Retention's hourly pass (redaction of customer text past conversation.retentionDays, abandoned replies) comes an
// hour after the last one, counted on a steady clock: a wall clock stepped back (NTP, a restored VM) must not hold it
// off for the length of the step, keeping what users wrote past the retention the operator set.
import { afterEach, describe, expect, it } from "vitest";
import { createRetention, createSqliteBus, REDACTED_PAYLOAD } from "../../src/bus/mod.ts";
import { fakeClock } from "./contract.ts";
import { freshDb, type TestDb } from "./helpers.ts";

const DAY = 86_400_000;
const MINUTE = 60_000;

describe("bus retention and a wall clock stepped back", () => {
  let db: TestDb | undefined;
  afterEach(async () => await db?.cleanup());

  it("runs its hourly redaction an hour after the last one, not an hour after the clock caught up again", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: clock.now });
    const retention = createRetention(db.store, { now: clock.now, textMs: 30 * MINUTE });
    await retention.runOnce(); // the first pass is an hourly one
    clock.advance(-2 * DAY); // the clock steps back two days
    // A message whose deliveries are done (no group takes its topic): its text goes once it is older than textMs.
    await bus.publish([{ topic: "inbound", key: "c", payload: { text: "my card is 4111" }, idempotencyKey: "k" }]);
    await retention.runOnce();
    for (let i = 0; i < 60; i++) {
      clock.advance(MINUTE);
      await retention.runOnce(); // every minute, as start() runs it
    }
    const rs = await db.store.client.execute("SELECT payload FROM bus_messages WHERE idem_key = 'k'");
    expect(String(rs.rows[0]!["payload"])).toBe(REDACTED_PAYLOAD);
    await bus.close();
  });
});
