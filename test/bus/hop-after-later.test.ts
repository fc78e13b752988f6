// aideazz_bus_hop_ms is the time from publish to a message's FIRST claim. A reply handed back until its pacing slot
// (NotYetError, outcome "later") is uncounted, so its next claim has attempt 1 again: it must not be observed again,
// with the pacing wait in it (`aideazz stats` showed two hops for one message, the second as long as the wait).
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Consumer, createSqliteBus, NotYetError } from "../../src/bus/mod.ts";
import { createMetrics, M } from "../../src/metrics/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { fakeClock, waitFor } from "./contract.ts";

describe("aideazz_bus_hop_ms and a delivery handed back until later", () => {
  const consumers: Consumer[] = [];
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await Promise.all(consumers.splice(0).map((c) => c.stop(100)));
    await cleanup?.();
  });

  it("observes one hop per message, from publish to its first claim, not again after the hand-back", async () => {
    const clock = fakeClock();
    const tmp = await tempDir("aideazz-hop-");
    const store = await openStore({ url: `file:${join(tmp.dir, "bus.db")}` });
    await migrate(store.client);
    const metrics = createMetrics();
    const bus = createSqliteBus(store, {
      now: () => clock.now(),
      random: () => 0.5,
      metrics,
      wake: { fallbackMs: 10, pollMinMs: 2, pollMaxMs: 10 },
    });
    cleanup = async () => (await bus.close(), store.close(), await tmp.cleanup());
    await bus.subscribe("t", "g");
    await bus.publish([{ topic: "t", key: "a", payload: "a" }]);
    const seen: number[] = [];
    consumers.push(bus.consume({
      topic: "t",
      group: "g",
      handler: (d) => {
        seen.push(d.attempt);
        // The chat's send slot is 60 s off: handed back until then.
        if (seen.length === 1) return Promise.reject(new NotYetError("slot later", clock.now() + 60_000));
        return Promise.resolve();
      },
    }));
    await waitFor(() => seen.length === 1, "the first claim");
    clock.advance(60_000);
    await waitFor(() => seen.length === 2, "the claim at the slot", 3_000);
    await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "the ack", 3_000);
    expect(seen).toEqual([1, 1]); // uncounted: the second claim is attempt 1 too
    const hop = metrics.snapshot().filter((s) => s.name === M.busHop);
    expect(hop.map((s) => s.value)).toEqual([1]);
    expect(hop[0]!.sum).toBe(0); // claimed at once; the pacing wait is no hop
  });
});
