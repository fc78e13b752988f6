/**
 * The bus's SQL (schema: migration 2 in src/store/migrations.ts). Each write is one statement; on a local file
 * the process's group writer (src/store/writer.ts) commits it together with the other writes of the moment, with
 * its prepared statement cached. Statements that touch many rows take them as one JSON array (`json_each`): 50
 * acks are one statement, not 50. Plain SQLite SQL, portable to a libSQL server. States: 0 ready, 1 leased.
 *
 * @module
 */
import { jsonRowsSql } from "../store/json-rows.ts";

/**
 * ?1 JSON array of {t, k, p, i?, r?, n?}, ?2 now. Rows are inserted in array order, so ids follow it. PUBLISH_ONLY
 * where nobody needs the ids: a statement that returns rows needs a row iterator, and under Deno each one leaks
 * (src/store/writer.ts). (Without RETURNING the ids are not known: a row skipped as a duplicate takes an id too.)
 */
export const PUBLISH_ONLY =
  `INSERT INTO bus_messages (topic, okey, payload, idem_key, trace_id, published_at, visible_at)
  SELECT j.value ->> '$.t', j.value ->> '$.k', j.value -> '$.p', j.value ->> '$.i', j.value ->> '$.r', ?2,
    max(?2, coalesce(j.value ->> '$.n', 0))
  FROM json_each(?1) AS j WHERE true ORDER BY j.key
  ON CONFLICT (idem_key) DO NOTHING`;
export const PUBLISH = `${PUBLISH_ONLY}
  RETURNING id, idem_key`;

/** ?1 JSON array of idempotency keys → the id each one belongs to. */
export const LOOKUP_IDEM = `SELECT idem_key, id FROM bus_messages
  WHERE idem_key IN (SELECT value FROM json_each(?1))`;

export const SUBSCRIBE = `INSERT INTO bus_subscriptions (topic, grp, created_at) VALUES (?1, ?2, ?3)
  ON CONFLICT DO NOTHING`;

/**
 * The deliveries of (?1 topic, ?2 group) named by ?3 = [[key, msg_id, fence, …], …] whose fence still matches.
 * CROSS JOIN keeps json_each outside, so each one is a primary-key lookup (never a scan of the group).
 */
const MATCHED = `SELECT d.grp, d.msg_id FROM json_each(?3) AS j CROSS JOIN bus_deliveries AS d
  ON d.grp = ?2 AND d.msg_id = j.value ->> '$[1]' AND d.topic = ?1 AND d.fence = j.value ->> '$[2]'`;
const FENCED = `(grp, msg_id) IN (${MATCHED})`;

/** The table of LEASE_GUARD: never holds a row (migration 61). */
export const LEASE_GUARD_TABLE = "bus_lease_guard";

/**
 * Fails (NOT NULL constraint on bus_lease_guard.held) unless every delivery of ?3 = [[key, msg_id, fence], …] of
 * (?1, ?2) still has its fence: rolls back writes that must only commit under their leases.
 */
export const LEASE_GUARD = `INSERT INTO ${LEASE_GUARD_TABLE} (held)
  SELECT NULL WHERE (SELECT count(*) FROM (${MATCHED})) < json_array_length(?3)`;

/**
 * Which deliveries of ?3 (as for FENCED) still have their fence: one row, a JSON array of [msg_id, fence]. Run just
 * before a write on them in the same transaction, it says which leases that write applies to, where RETURNING would
 * make a row iterator (under Deno each one leaks: src/store/writer.ts).
 */
export const HELD = jsonRowsSql(`SELECT msg_id, fence FROM bus_deliveries WHERE ${FENCED}`, ["msg_id", "fence"]);

/** Ack: deletes the fenced deliveries (the trigger promotes each key's next message). */
export const ACK = `DELETE FROM bus_deliveries WHERE ${FENCED}`;

/** ?3 [[key, msg_id, fence, visible_at, error, uncounted (0 or 1)], …]. */
export const RETRY =
  `UPDATE bus_deliveries SET state = 0, due_at = j.value ->> '$[3]', last_error = j.value ->> '$[4]',
    consumer = NULL, attempts = max(attempts - (j.value ->> '$[5]'), 0)
  FROM json_each(?3) AS j
  WHERE ${FENCED} AND bus_deliveries.msg_id = j.value ->> '$[1]' AND bus_deliveries.fence = j.value ->> '$[2]'`;

/** ?3 [[key, msg_id, fence, error, attempts], …], ?4 now. Followed by ACK with the same ?1–?3, in one transaction. */
export const DEAD = `INSERT INTO bus_dead_letters (msg_id, grp, topic, okey, attempts, last_error, dead_at, fence)
  SELECT d.msg_id, d.grp, d.topic, d.okey, j.value ->> '$[4]', j.value ->> '$[3]', ?4, d.fence
  FROM json_each(?3) AS j CROSS JOIN bus_deliveries AS d
    ON d.grp = ?2 AND d.msg_id = j.value ->> '$[1]' AND d.topic = ?1 AND d.fence = j.value ->> '$[2]'`;

/**
 * Up to ?5 claimable heads of (?1, ?2) at ?3: ready ones that are visible and leased ones whose lease expired (their
 * holder crashed, hung or lost its heartbeat; the new fence refuses it). In a total order: CLAIMING and CLAIM, run
 * one after the other in one transaction, pick the same ones.
 */
const CLAIMABLE = `SELECT grp, msg_id FROM bus_deliveries
  WHERE topic = ?1 AND grp = ?2 AND head = 1 AND due_at <= ?3 ORDER BY due_at, msg_id LIMIT ?5`;
/** A claimed delivery's error: a lease that expired says so. */
const CLAIMED_ERROR =
  "CASE WHEN state = 1 THEN 'lease expired (the handler crashed, hung or lost its heartbeat)' ELSE last_error END";

/** What CLAIM (run next, same ?1–?5) will lease: one row, a JSON array of [okey, msg_id, fence, attempts, last_error]. */
export const CLAIMING = jsonRowsSql(
  `SELECT okey, msg_id, fence + 1 AS fence, attempts + 1 AS attempts, ${CLAIMED_ERROR} AS last_error
  FROM bus_deliveries WHERE (grp, msg_id) IN (${CLAIMABLE})`,
  ["okey", "msg_id", "fence", "attempts", "last_error"],
);

/** Leases the CLAIMABLE heads of (?1, ?2) at ?3 for ?4 ms to consumer ?6. */
export const CLAIM = `UPDATE bus_deliveries
  SET state = 1, due_at = ?3 + ?4, fence = fence + 1, attempts = attempts + 1, consumer = ?6,
    last_error = ${CLAIMED_ERROR}
  WHERE (grp, msg_id) IN (${CLAIMABLE})`;

/** When (?1, ?2) next has something to claim: the earliest due head. */
export const NEXT =
  `SELECT min(due_at) AS next FROM bus_deliveries WHERE topic = ?1 AND grp = ?2 AND head = 1 LIMIT 1`;

/** One row, one JSON text: converting client rows costs more than JSON.parse of one string. */
export const PAYLOADS = `SELECT json_group_array(json_array(id, json(payload), trace_id, published_at)) AS j
  FROM bus_messages WHERE id IN (SELECT value FROM json_each(?1)) LIMIT 1`;

/** ?4 new lease end. */
export const EXTEND = `UPDATE bus_deliveries SET due_at = max(due_at, ?4)
  WHERE state = 1 AND ${FENCED} RETURNING msg_id, fence`;

/** ?3 msg_id, ?4 fence, ?5 now: one lease, one primary-key lookup (checked before every send, so no JSON). */
export const HOLDS = `SELECT 1 AS held FROM bus_deliveries
  WHERE grp = ?2 AND msg_id = ?3 AND topic = ?1 AND fence = ?4 AND state = 1 AND due_at > ?5`;

/** HOLDS as a write: fails (NOT NULL constraint on bus_lease_guard.held) unless that lease holds. */
export const HOLDS_GUARD = `INSERT INTO ${LEASE_GUARD_TABLE} (held) SELECT NULL WHERE NOT EXISTS (${HOLDS})`;

/** Gives leases back (graceful stop): ready now, new fence, and the attempt does not count. ?4 now. */
export const RELEASE = `UPDATE bus_deliveries
  SET state = 0, fence = fence + 1, attempts = max(attempts - 1, 0), due_at = ?4, consumer = NULL
  WHERE state = 1 AND ${FENCED}`;

/** ?1 now. */
export const STATS = `SELECT s.topic, s.grp,
    coalesce(sum(d.state = 0 AND d.due_at <= ?1), 0) AS ready,
    coalesce(sum(d.state = 1), 0) AS in_flight,
    coalesce(sum(d.state = 0 AND d.due_at > ?1), 0) AS delayed,
    min(m.published_at) AS oldest,
    (SELECT count(*) FROM bus_dead_letters x WHERE x.topic = s.topic AND x.grp = s.grp) AS dead
  FROM bus_subscriptions s
  LEFT JOIN bus_deliveries d ON d.grp = s.grp AND d.topic = s.topic
  LEFT JOIN bus_messages m ON m.id = d.msg_id
  GROUP BY s.topic, s.grp`;

/** ?1 topic or NULL, ?2 group or NULL, ?3 limit. */
export const DEAD_LIST =
  `SELECT x.msg_id, x.topic, x.grp, x.okey, m.payload, x.attempts, x.last_error, x.dead_at,
    m.trace_id
  FROM bus_dead_letters x JOIN bus_messages m ON m.id = x.msg_id
  WHERE (?1 IS NULL OR x.topic = ?1) AND (?2 IS NULL OR x.grp = ?2)
  ORDER BY x.dead_at, x.msg_id LIMIT ?3`;

/**
 * Re-queues dead letter ?1 (of group ?2, or every group when NULL) at ?3, behind its key's pending ones; its fences go
 * on from the dead delivery's, so no lease of before is valid again.
 */
export const DEAD_REQUEUE = `INSERT INTO bus_deliveries (grp, msg_id, topic, okey, head, due_at, fence)
  SELECT x.grp, x.msg_id, x.topic, x.okey,
    NOT EXISTS (SELECT 1 FROM bus_keys k WHERE k.topic = x.topic AND k.grp = x.grp AND k.okey = x.okey),
    ?3, x.fence
  FROM bus_dead_letters x WHERE x.msg_id = ?1 AND (?2 IS NULL OR x.grp = ?2)
  RETURNING topic`;

export const DEAD_DELETE = `DELETE FROM bus_dead_letters WHERE msg_id = ?1 AND (?2 IS NULL OR grp = ?2)`;

/** ?1 topic or NULL, ?2 group or NULL, ?3 dead at or before. */
export const DEAD_PURGE = `DELETE FROM bus_dead_letters
  WHERE (?1 IS NULL OR topic = ?1) AND (?2 IS NULL OR grp = ?2) AND dead_at <= ?3`;
