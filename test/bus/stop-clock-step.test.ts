// consumer.stop(timeoutMs) gives up on running handlers after timeoutMs and releases their leases. That wait is a
// duration: a wall clock stepped back meanwhile (NTP, a restored VM) must not stretch it by the step, or the agent's
// own stop deadline (or systemd's SIGKILL) ends the process with the leases still held, to expire as failed attempts.
import { afterEach, describe, expect, it, vi } from "vitest";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { fakeClock, sleep, waitFor } from "./contract.ts";
import { count, freshDb, type TestDb } from "./helpers.ts";

describe("consumer.stop() and a wall clock stepped back", () => {
  let db: TestDb | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await db?.cleanup();
  });

  it("releases a handler still running after its timeout, however far the clock stepped back during the wait", async () => {
    db = await freshDb();
    const clock = fakeClock();
    const bus = createSqliteBus(db.store, { now: () => clock.now(), wake: { watch: false } });
    await bus.subscribe("t", "g");
    await bus.publish([{ topic: "t", key: "a", payload: 1 }]);
    let started = false;
    const consumer = bus.consume({
      topic: "t",
      group: "g",
      handler: () => {
        started = true;
        return new Promise<void>(() => {}); // a handler that outlives the stop
      },
    });
    await waitFor(() => started, "the handler");
    const stopped = consumer.stop(200).then(() => "stopped");
    await sleep(20);
    const real = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => real() - 3_600_000); // stepped back an hour during the wait
    const outcome = await Promise.race([stopped, sleep(3_000).then(() => "still waiting")]);
    vi.restoreAllMocks();
    expect(outcome).toBe("stopped");
    expect(await count(db.store, "SELECT count(*) FROM bus_deliveries WHERE state = 0 AND attempts = 0")).toBe(1);
    await bus.close();
  });
});
