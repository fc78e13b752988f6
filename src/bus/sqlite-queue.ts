/**
 * The consumer-side queue operations on libSQL. Each write is one autocommit statement (prepared before the
 * write lock is taken, see sqlite-sql.ts): a round is the acks as one DELETE, retries as one UPDATE, and the
 * claim as one UPDATE … RETURNING; only dead-lettering (insert + delete) is a two-statement transaction. The
 * claimed messages' payloads are read afterwards, without the lock (messages are immutable while a delivery
 * exists).
 *
 * @module
 */
import type { Client } from "../store/mod.ts";
import type { Writer } from "./lock-wait.ts";
import type { Claimed, CycleInput, CycleResult, Lease, Queue } from "./queue.ts";
import * as Q from "./sqlite-sql.ts";
import type { Json } from "./types.ts";

const num = (v: unknown): number => Number(v);
const ids = (rows: readonly Record<string, unknown>[]): Set<number> => new Set(rows.map((r) => num(r["msg_id"])));
const leasesJson = (leases: readonly Lease[], extra: (l: Lease) => unknown[] = () => []) =>
  JSON.stringify(leases.map((l) => [l.key, l.id, l.fence, ...extra(l)]));

/** Reads go through `client`, writes through `writer` (see lock-wait.ts). */
export function createSqliteQueue(client: Client, writer: Writer): Queue {
  const queue: Queue = {
    async subscribe(topic, group, now) {
      await writer.execute({ sql: Q.SUBSCRIBE, args: [topic, group, now] });
    },

    async nextAt(topic, group) {
      const rs = await client.execute({ sql: Q.NEXT, args: [topic, group] });
      const next = rs.rows[0]?.["next"];
      return next === null || next === undefined ? null : num(next);
    },

    async cycle(input: CycleInput): Promise<CycleResult> {
      const { topic, group, now } = input;
      const acks = input.settles.filter((s) => s.kind === "ack");
      const retries = input.settles.flatMap((s) => (s.kind === "retry" ? [s] : []));
      const dead = input.settles.flatMap((s) => (s.kind === "dead" ? [s] : []));
      let acked = new Set<number>();
      let retried = new Set<number>();
      let buried = new Set<number>();
      if (acks.length > 0) {
        acked = ids((await writer.execute({ sql: Q.ACK, args: [topic, group, leasesJson(acks)] })).rows);
      }
      if (retries.length > 0) {
        const json = leasesJson(retries, (l) => {
          const r = l as (typeof retries)[number];
          return [r.visibleAt, r.error];
        });
        retried = ids((await writer.execute({ sql: Q.RETRY, args: [topic, group, json] })).rows);
      }
      if (dead.length > 0) {
        const json = leasesJson(dead, (l) => [(l as (typeof dead)[number]).error]);
        const [, deleted] = await writer.batch([
          { sql: Q.DEAD, args: [topic, group, json, now] },
          { sql: Q.ACK, args: [topic, group, json] },
        ]);
        buried = ids(deleted!.rows);
      }
      const applied = input.settles.map((s) =>
        (s.kind === "ack" ? acked : s.kind === "retry" ? retried : buried).has(s.id)
      );
      if (input.claim <= 0) return { applied, claimed: [] };

      const claimRows = (await writer.execute({
        sql: Q.CLAIM,
        args: [topic, group, now, input.leaseMs, input.claim, input.consumer],
      })).rows;
      if (claimRows.length === 0) return { applied, claimed: [] };
      let messages;
      try {
        const rs = await client.execute({ sql: Q.PAYLOADS, args: [JSON.stringify(claimRows.map((r) => num(r["msg_id"])))] });
        messages = new Map(rs.rows.map((r) => [num(r["id"]), r]));
      } catch (err) {
        // Hand the leases back rather than let them expire (best effort: they expire anyway).
        const leases = claimRows.map((r) => ({ key: String(r["okey"]), id: num(r["msg_id"]), fence: num(r["fence"]) }));
        await queue.release(topic, group, leases, now).catch(() => {});
        throw err;
      }
      const claimed: Claimed[] = [];
      for (const r of claimRows) {
        const id = num(r["msg_id"]);
        const m = messages.get(id);
        if (!m) continue; // cannot happen: a message outlives its deliveries (refs)
        claimed.push({
          id,
          key: String(r["okey"]),
          payload: JSON.parse(String(m["payload"])) as Json,
          traceId: m["trace_id"] === null ? undefined : String(m["trace_id"]),
          publishedAt: num(m["published_at"]),
          fence: num(r["fence"]),
          attempt: num(r["attempts"]),
          lastError: r["last_error"] === null ? undefined : String(r["last_error"]),
        });
      }
      // The claim picks by due time; hand out in publish order within the batch.
      claimed.sort((a, b) => a.id - b.id);
      return { applied, claimed };
    },

    async extend(topic, group, leases, until) {
      if (leases.length === 0) return [];
      const rs = await writer.execute({ sql: Q.EXTEND, args: [topic, group, leasesJson(leases), until] });
      const held = ids(rs.rows);
      return leases.map((l) => held.has(l.id));
    },

    async holds(topic, group, lease, now) {
      const rs = await client.execute({ sql: Q.HOLDS, args: [topic, group, leasesJson([lease]), now] });
      return rs.rows.length > 0;
    },

    async release(topic, group, leases, now) {
      if (leases.length === 0) return;
      await writer.execute({ sql: Q.RELEASE, args: [topic, group, leasesJson(leases), now] });
    },
  };
  return queue;
}
