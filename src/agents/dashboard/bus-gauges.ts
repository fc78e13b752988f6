/**
 * Bus gauges for the whole system, sampled by the analytics agent (the bus is shared, so one agent reports it):
 * depth per consumer group and state, age of the oldest unhandled message, and dead letters.
 *
 * @module
 */
import type { Bus } from "../../bus/mod.ts";
import { M, type Metrics } from "../../metrics/mod.ts";

/** Reads `bus.stats()` once and sets the bus gauges. */
export async function sampleBusGauges(bus: Pick<Bus, "stats">, metrics: Metrics): Promise<void> {
  for (const g of await bus.stats()) {
    const group = { topic: g.topic, group: g.group };
    metrics.set(M.busDepth, g.ready, { ...group, state: "ready" });
    metrics.set(M.busDepth, g.inFlight, { ...group, state: "in_flight" });
    metrics.set(M.busDepth, g.delayed, { ...group, state: "delayed" });
    metrics.set(M.busOldestAge, g.oldestAgeMs ?? 0, group);
    metrics.set(M.busDeadLetters, g.deadLetters, group);
  }
}
