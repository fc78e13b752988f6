/**
 * The production bus on one libSQL database shared by every agent process. Publishing a batch is one INSERT
 * statement (atomic; a trigger fans each message out to its topic's groups; a message published to a topic
 * no group subscribes to is not delivered to groups that subscribe later, so agents subscribe at start-up);
 * consuming runs the shared loop of consumer.ts on the queue operations of sqlite-queue.ts; wake-ups come
 * from wake.ts. Schema and its reasons: migration 2 in src/store/migrations.ts.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/registry.ts";
import { type InStatement, selectRows, type Store } from "../store/mod.ts";
import { startConsumer } from "./consumer.ts";
import { createSqliteQueue } from "./sqlite-queue.ts";
import * as Q from "./sqlite-sql.ts";
import type { Bus, Consumer, DeadLetter, GroupStats, Json, PublishResult } from "./types.ts";
import { type MessageRow, rowsToJson, toMessageRows } from "./validate.ts";
import { createWakeHub, type WakeOptions } from "./wake.ts";

export interface SqliteBusOptions {
  now?: () => number;
  /** [0, 1): retry jitter. */
  random?: () => number;
  log?: Logger;
  metrics?: Metrics;
  /** Recorded on leased rows (`bus_deliveries.consumer`) to tell who holds what. Default: a random id. */
  consumerId?: string;
  wake?: WakeOptions;
  /** Applied to handler error text before it is stored as `last_error`. */
  redact?: (text: string) => string;
}

const num = (v: unknown): number => Number(v);
const optText = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));

/** Pairs input rows with the inserted ones (in id order); undefined for a duplicate of an older message. */
function matchInserted(
  rows: readonly MessageRow[],
  inserted: readonly { id: number; key: string | undefined }[],
) {
  const seen = new Set<string>();
  let next = 0;
  return rows.map((r): PublishResult | undefined => {
    const row = inserted[next];
    if (r.i !== undefined && (row?.key !== r.i || seen.has(r.i))) return undefined;
    if (!row || row.key !== r.i) throw new Error("publish: inserted rows do not match the input (bug)");
    if (r.i !== undefined) seen.add(r.i);
    next++;
    return { id: row.id, duplicate: false };
  });
}

/**
 * Creates the bus over an open, migrated store. `close()` stops this bus's consumers; the store stays open.
 *
 * @example
 * ```ts
 * const store = await openStore({ url: "file:data/aideazz.db" });
 * await migrate(store.client);
 * const bus = createSqliteBus(store, { log });
 * await bus.publish([{ topic: "inbound", key: "tg:42", payload: update, idempotencyKey: `telegram:bot:${id}` }]);
 * const consumer = bus.consume({ topic: "inbound", group: "orchestrator", handler: async (d) => {} });
 * ```
 */
export function createSqliteBus(store: Store, opts: SqliteBusOptions = {}): Bus {
  const { client } = store;
  const now = opts.now ?? Date.now;
  const local = store.path !== undefined && store.path !== "" && store.path !== ":memory:";
  const hub = createWakeHub(local ? `${store.path}-wake` : undefined, opts.wake);
  const queue = createSqliteQueue(client);
  const consumers = new Set<Consumer>();
  const consumerId = opts.consumerId ?? crypto.randomUUID().slice(0, 8);

  return {
    async subscribe(topic, group) {
      if (!topic || !group) throw new TypeError("subscribe: topic and group must be non-empty strings");
      await queue.subscribe(topic, group, now());
    },

    async publish(messages, also = {}) {
      const rows = toMessageRows(messages);
      const before = also.before ?? [];
      const after = also.after ?? [];
      const write = (stmts: InStatement[]) => (also.durable ? store.durableBatch(stmts) : client.batch(stmts, "write"));
      if (rows.length === 0) {
        if (before.length + after.length > 0) await write([...before, ...after]);
        return [];
      }
      const results: (PublishResult | undefined)[] = new Array(rows.length);
      let pending = rows.map((_, i) => i); // what this attempt publishes: all, then only those whose original went
      for (let attempt = 1;; attempt++) {
        // One INSERT for every message, with the caller's statements, in one write transaction: `before` once,
        // `after` with every attempt (they name what that attempt stored: a retry's message needs them too).
        const first = attempt === 1;
        const batch = pending.map((i) => rows[i]!);
        const stmts = [...(first ? before : []), { sql: Q.PUBLISH, args: [rowsToJson(batch), now()] }, ...after];
        const rs = (await write(stmts))[first ? before.length : 0]!;
        // Rows are inserted in input order, so sorted ids line up with the input minus the duplicates.
        const inserted = rs.rows.map((r) => ({ id: num(r["id"]), key: optText(r["idem_key"]) }));
        inserted.sort((a, b) => a.id - b.id);
        if (inserted.length > 0) hub.notify(new Set(batch.map((r) => r.t)));
        const out = matchInserted(batch, inserted);
        out.forEach((o, k) => void (results[pending[k]!] = o));
        pending = pending.filter((_, k) => out[k] === undefined);
        if (pending.length === 0) return results as PublishResult[];
        const missing = [...new Set(pending.map((i) => rows[i]!.i!))];
        const found = await client.execute({ sql: Q.LOOKUP_IDEM, args: [JSON.stringify(missing)] });
        const original = new Map(found.rows.map((r) => [String(r["idem_key"]), num(r["id"])]));
        for (const i of pending) {
          const id = original.get(rows[i]!.i!);
          if (id !== undefined) results[i] = { id, duplicate: true };
        }
        // An original purged by retention in between: its key is free now, and only that message is published again.
        pending = pending.filter((i) => results[i] === undefined);
        if (pending.length === 0) return results as PublishResult[];
        if (attempt >= 3) throw new Error("publish: idempotency keys kept disappearing (retention racing)");
      }
    },

    consume(consumeOpts) {
      const consumer = startConsumer(
        {
          queue,
          hub,
          now,
          random: opts.random ?? Math.random,
          consumerId,
          log: opts.log,
          metrics: opts.metrics,
          redact: opts.redact,
        },
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

    async stats() {
      const t = now();
      // One row of JSON (analytics reads this every few seconds; a row iterator would leak under Deno).
      const rows = await selectRows<[string, string, number, number, number, number | null, number]>(
        client,
        { sql: Q.STATS, args: [t] },
        ["topic", "grp", "ready", "in_flight", "delayed", "oldest", "dead"],
      );
      rows.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
      return rows.map(([topic, group, ready, inFlight, delayed, oldest, deadLetters]): GroupStats => ({
        topic,
        group,
        ready,
        inFlight,
        delayed,
        oldestAgeMs: oldest === null ? null : Math.max(0, t - oldest),
        deadLetters,
      }));
    },

    async deadLetters(filter = {}) {
      const limit = filter.limit ?? 100;
      const rs = await client.execute({
        sql: Q.DEAD_LIST,
        args: [filter.topic ?? null, filter.group ?? null, limit],
      });
      return rs.rows.map((r): DeadLetter => ({
        id: num(r["msg_id"]),
        topic: String(r["topic"]),
        group: String(r["grp"]),
        key: String(r["okey"]),
        payload: JSON.parse(String(r["payload"])) as Json,
        attempts: num(r["attempts"]),
        lastError: String(r["last_error"]),
        deadAt: num(r["dead_at"]),
        traceId: optText(r["trace_id"]),
      }));
    },

    async retryDeadLetter(id, group) {
      const args = [id, group ?? null];
      const [requeued, deleted] = await client.batch([
        { sql: Q.DEAD_REQUEUE, args: [...args, now()] },
        { sql: Q.DEAD_DELETE, args },
      ], "write");
      hub.notify(new Set(requeued!.rows.map((r) => String(r["topic"]))));
      return deleted!.rowsAffected > 0;
    },

    async purgeDeadLetters(filter = {}) {
      const cut = filter.olderThanMs === undefined ? Number.MAX_SAFE_INTEGER : now() - filter.olderThanMs;
      const rs = await client.execute({
        sql: Q.DEAD_PURGE,
        args: [filter.topic ?? null, filter.group ?? null, cut],
      });
      return rs.rowsAffected;
    },

    async close() {
      await Promise.all([...consumers].map((c) => c.stop()));
      hub.close();
    },
  };
}
