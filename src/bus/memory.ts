/**
 * An in-memory bus with the semantics of the SQLite one (same consumer loop, same rules), for unit tests of
 * other modules. It passes the shared contract test (test/bus/contract.ts).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { startConsumer } from "./consumer.ts";
import { memoryQueue, MemoryStore } from "./memory-store.ts";
import type { Bus, Consumer } from "./types.ts";
import { rowsToJson, toMessageRows } from "./validate.ts";
import { createWakeHub } from "./wake.ts";

export interface MemoryBusOptions {
  now?: () => number;
  random?: () => number;
  log?: Logger;
  /** How often idle consumers look again (they are also woken by every publish). Default 1000 ms. */
  pollMs?: number;
}

/**
 * Creates an in-memory bus.
 *
 * @example
 * ```ts
 * const bus = createMemoryBus();
 * await bus.publish([{ topic: "outbound", key: "tg:42", payload: { text: "hi" } }]);
 * ```
 */
export function createMemoryBus(opts: MemoryBusOptions = {}): Bus {
  const now = opts.now ?? Date.now;
  const store = new MemoryStore();
  const queue = memoryQueue(store);
  const pollMs = opts.pollMs ?? 1_000;
  const hub = createWakeHub(undefined, { watch: false, pollMinMs: pollMs, pollMaxMs: pollMs });
  const consumers = new Set<Consumer>();

  return {
    subscribe(topic, group) {
      if (!topic || !group) {
        return Promise.reject(new TypeError("subscribe: topic and group must be non-empty strings"));
      }
      store.subscribe(topic, group);
      return Promise.resolve();
    },
    publish(messages, also) {
      try {
        if (also?.before?.length || also?.after?.length) {
          throw new TypeError("publish: the in-memory bus has no database to commit other statements in");
        }
        const rows = toMessageRows(messages);
        rowsToJson(rows); // the same serializability check as SQLite, before anything is stored
        const out = store.publish(rows, now());
        hub.notify(new Set(rows.map((r) => r.t)));
        return Promise.resolve(out);
      } catch (err) {
        return Promise.reject(err);
      }
    },
    consume(consumeOpts) {
      const consumer = startConsumer(
        { queue, hub, now, random: opts.random ?? Math.random, consumerId: "memory", log: opts.log },
        consumeOpts,
      );
      const tracked: Consumer = {
        stop: async (timeoutMs) => {
          await consumer.stop(timeoutMs);
          consumers.delete(tracked);
        },
      };
      consumers.add(tracked);
      return tracked;
    },
    stats: () => Promise.resolve(store.stats(now())),
    deadLetters: (filter = {}) => Promise.resolve(store.deadLetters(filter)),
    retryDeadLetter(id, group) {
      const topics = store.retryDeadLetter(id, group, now());
      hub.notify(new Set(topics));
      return Promise.resolve(topics.length > 0);
    },
    purgeDeadLetters(filter = {}) {
      const cut = filter.olderThanMs === undefined ? Number.MAX_SAFE_INTEGER : now() - filter.olderThanMs;
      return Promise.resolve(store.purgeDeadLetters(filter, cut));
    },
    async close() {
      await Promise.all([...consumers].map((c) => c.stop()));
      hub.close();
    },
  };
}
