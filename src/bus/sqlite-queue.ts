/**
 * The consumer-side queue operations on libSQL. A consumer round is one write transaction: the acks as one DELETE,
 * retries as one UPDATE, dead letters as an insert and a delete, then the claim as one UPDATE. Each write is preceded
 * by a read of the leases it applies to (one row of JSON: no RETURNING, whose rows would need a row iterator). The
 * claimed messages' payloads are read afterwards, without the lock (messages are immutable while a delivery
 * exists).
 *
 * A handler's last write (`Delivery.ackWith`) rides on its ack. The round's writes go together as one batch: a
 * guard that fails unless every one of their leases still holds, the handlers' rows (the same INSERTs of many
 * handlers as one multi-row INSERT: src/store/merge-inserts.ts), one publish of all their messages and one ack.
 * Issued in the same tick as the round's statements, the process's group writer (src/store/writer.ts) commits
 * both in one transaction. Should that batch fail (a lease was lost, a write broke a constraint), each write is
 * tried again alone, guarded by its own lease: only the one at fault fails. (On a libSQL server the batch is a
 * transaction of its own.)
 *
 * @module
 */
import {
  type Client,
  type InStatement,
  isStoreUnavailable,
  mergeWrites,
  parseJsonRows,
} from "../store/mod.ts";
import type { Claimed, CycleInput, CycleResult, Lease, Queue, Settle } from "./queue.ts";
import * as Q from "./sqlite-sql.ts";
import type { Json } from "./types.ts";
import { rowsToJson, toMessageRows } from "./validate.ts";

const num = (v: unknown): number => Number(v);
/** A lease as one string: a stale lease of the same message (an older fence) is another lease. */
const leaseId = (l: { id: number; fence: number }) => `${l.id}:${l.fence}`;
/** The leases of RETURNING msg_id, fence. */
const leaseIds = (rows: readonly Record<string, unknown>[]): Set<string> =>
  new Set(rows.map((r) => leaseId({ id: num(r["msg_id"]), fence: num(r["fence"]) })));
/** [[key, msg_id, fence], …]: the shape the fenced statements of sqlite-sql.ts read. */
const leasesJson = (leases: readonly Lease[]) => JSON.stringify(leases.map((l) => [l.key, l.id, l.fence]));

/** True for the error of an ackWith write's guard: the lease was lost. */
const isGuardError = (err: unknown) =>
  err instanceof Error && err.message.includes(`NOT NULL constraint failed: ${Q.LEASE_GUARD_TABLE}.held`);

export function createSqliteQueue(client: Client): Queue {
  /** The batch of acks that carry writes: guarded by their leases, acking them, all or nothing. */
  const ackWithWrites = (
    topic: string,
    group: string,
    settles: readonly Settle[],
    now: number,
  ): InStatement[] => {
    const leases = leasesJson(settles);
    const writes = settles.flatMap((s) => (s.kind === "ack" && s.with ? [s.with] : []));
    // Each write's messages are a JSON array: their elements, joined, are one array.
    const rows = writes.map((w) => w.rowsJson.slice(1, -1)).filter((r) => r !== "");
    return [
      { sql: Q.LEASE_GUARD, args: [topic, group, leases] },
      ...mergeWrites(writes.map((w) => w.stmts)),
      ...(rows.length > 0 ? [{ sql: Q.PUBLISH_ONLY, args: [`[${rows.join(",")}]`, now] }] : []),
      { sql: Q.ACK, args: [topic, group, leases] },
    ];
  };
  /** Each write alone once the batch of them all failed: the outcome of each. */
  const writeEach = (topic: string, group: string, settles: readonly Settle[], now: number) =>
    Promise.allSettled(settles.map((s) => client.batch(ackWithWrites(topic, group, [s], now), "write")));

  const queue: Queue = {
    ackCommit(write) {
      const rows = toMessageRows(write.publish ?? []);
      // The payloads as they are now: a payload that is not JSON fails the handler, not the round.
      const rowsJson = rowsToJson(rows);
      return { stmts: [...(write.before ?? [])], rowsJson, topics: [...new Set(rows.map((r) => r.t))] };
    },

    async subscribe(topic, group, now) {
      await client.execute({ sql: Q.SUBSCRIBE, args: [topic, group, now] });
    },

    async nextAt(topic, group) {
      const rs = await client.execute({ sql: Q.NEXT, args: [topic, group] });
      const next = rs.rows[0]?.["next"];
      return next === null || next === undefined ? null : num(next);
    },

    async cycle(input: CycleInput): Promise<CycleResult> {
      const { topic, group, now } = input;
      const withWrite = input.settles.flatMap((s) => (s.kind === "ack" && s.with ? [s] : []));
      const acks = input.settles.filter((s) => s.kind === "ack" && !s.with);
      const retries = input.settles.flatMap((s) => (s.kind === "retry" ? [s] : []));
      const dead = input.settles.flatMap((s) => (s.kind === "dead" ? [s] : []));
      // The whole round is one write transaction, the claim last: it sees this round's acks (a chat's next message).
      const stmts: InStatement[] = [];
      const add = (stmt: InStatement) => stmts.push(stmt) - 1;
      // Each write after the read of the leases it applies to (Q.HELD): the index of that read, or -1.
      const held = (json: string, ...writes: InStatement[]) => {
        const at = add({ sql: Q.HELD, args: [topic, group, json] });
        writes.forEach(add);
        return at;
      };
      let ackAt = -1;
      if (acks.length > 0) {
        const json = leasesJson(acks);
        ackAt = held(json, { sql: Q.ACK, args: [topic, group, json] });
      }
      let retryAt = -1;
      if (retries.length > 0) {
        const json = JSON.stringify(retries.map((r) => [r.key, r.id, r.fence, r.visibleAt, r.error, r.uncounted ? 1 : 0]));
        retryAt = held(json, { sql: Q.RETRY, args: [topic, group, json] });
      }
      let deadAt = -1;
      if (dead.length > 0) {
        const json = JSON.stringify(dead.map((d) => [d.key, d.id, d.fence, d.error, d.attempts]));
        deadAt = held(json, { sql: Q.DEAD, args: [topic, group, json, now] }, {
          sql: Q.ACK,
          args: [topic, group, json],
        });
      }
      let claimAt = -1;
      if (input.claim > 0) {
        const args = [topic, group, now, input.leaseMs, input.claim];
        claimAt = add({ sql: Q.CLAIMING, args });
        add({ sql: Q.CLAIM, args: [...args, input.consumer] });
      }
      // Issued together, so that one group commit takes them all: the writes riding on acks first.
      const [together, main] = await Promise.allSettled([
        withWrite.length > 0
          ? client.batch(ackWithWrites(topic, group, withWrite, now), "write")
          : Promise.resolve([]),
        stmts.length > 0 ? client.batch(stmts, "write") : Promise.resolve([]),
      ]);
      if (main.status === "rejected") throw main.reason;
      // One outcome for all when the batch committed, or failed as each would alone (one write, the store
      // unavailable); otherwise each is tried alone, so that only the one at fault fails. Those come after this
      // round's claim: a key's next message waits for the next round, and a delivery whose lease had run out may
      // be claimed again first (its write is then refused; the redelivery answers with the same reply key).
      const shared = together.status === "fulfilled" || withWrite.length === 1 ||
        isStoreUnavailable(together.reason);
      const outcomes = shared ? withWrite.map(() => together) : await writeEach(topic, group, withWrite, now);
      const results = main.value;
      const idsAt = (i: number) =>
        new Set(
          i < 0
            ? []
            : parseJsonRows<[number, number]>(results[i]!.rows).map(([id, fence]) => leaseId({ id, fence })),
        );
      const [acked, retried, buried] = [idsAt(ackAt), idsAt(retryAt), idsAt(deadAt)];
      const written = new Map<Settle, PromiseSettledResult<unknown>>(
        withWrite.map((s, i) => [s, outcomes[i]!]),
      );
      const errors: (unknown | undefined)[] = [];
      const applied = input.settles.map((s, i) => {
        const w = written.get(s);
        if (w?.status === "rejected" && !isGuardError(w.reason)) errors[i] = w.reason;
        if (w) return w.status === "fulfilled";
        return (s.kind === "ack" ? acked : s.kind === "retry" ? retried : buried).has(leaseId(s));
      });
      // [key, msg_id, fence, attempts, last_error]
      const leased = claimAt < 0
        ? []
        : parseJsonRows<[string, number, number, number, string | null]>(results[claimAt]!.rows);
      if (leased.length === 0) return { applied, errors, claimed: [] };
      let messages: Map<number, [number, Json, string | null, number]>;
      try {
        const rs = await client.execute({ sql: Q.PAYLOADS, args: [JSON.stringify(leased.map((l) => l[1]))] });
        const list = JSON.parse(String(rs.rows[0]?.["j"] ?? "[]")) as [number, Json, string | null, number][];
        messages = new Map(list.map((m) => [m[0], m]));
      } catch (err) {
        // Hand the leases back rather than let them expire (best effort: they expire anyway).
        await queue.release(topic, group, leased.map(([key, id, fence]) => ({ key, id, fence })), now).catch(
          () => {},
        );
        throw err;
      }
      const claimed: Claimed[] = [];
      for (const [key, id, fence, attempt, lastError] of leased) {
        const m = messages.get(id);
        if (!m) continue; // cannot happen: a message outlives its deliveries (refs)
        claimed.push({
          id,
          key,
          payload: m[1],
          traceId: m[2] ?? undefined,
          publishedAt: m[3],
          fence,
          attempt,
          lastError: lastError ?? undefined,
        });
      }
      // The claim picks by due time; hand out in publish order within the batch.
      claimed.sort((a, b) => a.id - b.id);
      return { applied, errors, claimed };
    },

    async extend(topic, group, leases, until) {
      if (leases.length === 0) return [];
      const rs = await client.execute({ sql: Q.EXTEND, args: [topic, group, leasesJson(leases), until] });
      const held = leaseIds(rs.rows);
      return leases.map((l) => held.has(leaseId(l)));
    },

    async holds(topic, group, lease, now) {
      const rs = await client.execute({ sql: Q.HOLDS, args: [topic, group, lease.id, lease.fence, now] });
      return rs.rows.length > 0;
    },

    guard(topic, group, lease, now) {
      return { stmt: { sql: Q.HOLDS_GUARD, args: [topic, group, lease.id, lease.fence, now] }, lost: isGuardError };
    },

    async release(topic, group, leases, now) {
      if (leases.length === 0) return;
      await client.execute({ sql: Q.RELEASE, args: [topic, group, leasesJson(leases), now] });
    },
  };
  return queue;
}
