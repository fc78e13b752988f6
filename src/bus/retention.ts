/**
 * Retention: purges finished rows on a schedule and keeps the WAL bounded (RELIABILITY.md C7).
 *
 * Acked messages without an idempotency key are already gone (a trigger deletes them with their last
 * delivery), so the hot tables stay small without this job. It removes what is kept on purpose: keyed messages
 * after the dedup window (WhatsApp retries for up to 7 days, so 8 days by default), old dead letters and
 * send-ledger rows. Deletes go in chunks, each its own short write.
 *
 * Customer text: a message's payload holds what the user wrote (inbound) or a reply that may quote it (outbound),
 * and the operator bounds how long that is kept (`conversation.retentionDays`, passed as `textMs`). Dead letters
 * older than that are purged, and so, hourly, are those whose message is (one that died late holds text as old as
 * its message). A keyed message older than that whose deliveries are all done keeps its row, so a
 * webhook retried within the dedup window is still dropped as a duplicate, but its payload is replaced by
 * `REDACTED_PAYLOAD`. Nothing reads a payload once its deliveries and dead letters are gone (claims and
 * `bus dlq list` read only messages they reference), and `refs` never rises again from 0, so the redaction
 * cannot reach a consumer. Redaction runs at most hourly, in chunks of 2,000 rows found through an index of the
 * keyed messages not yet redacted (migration 78): those already redacted are never read again.
 *
 * A topic no agent will consume again (`abandoned`: the replies of a channel agent renamed or removed) would keep its
 * deliveries, and so their text, for ever: hourly, before the purges, those older than an hour go to the dead letters
 * with the caller's reason (`bus dlq list` shows them). The hour spares a rolling deploy that adds the agent back.
 *
 * The WAL: a PASSIVE checkpoint every `checkpointIntervalMs` (1 s) copies what was committed since into the
 * database file. SQLite's own checkpoint on commit is set to start only at 64 MiB (src/store/open.ts): at 1,000
 * pages it ran inside whichever agent's commit crossed the mark, fsyncs included, and with readers always present
 * the WAL rarely dropped below the mark, so nearly every commit of every agent ran one (≈ 50 fsyncs a second per
 * channel agent at 500 webhooks/s, on its event loop). A reader that is always present (overlapping long reads)
 * keeps any checkpoint from resetting the WAL, and the file grows without bound: each retention run, when the
 * `-wal` file is above `walMaxBytes`, does a TRUNCATE checkpoint, which blocks new writers and waits (within the
 * busy timeout, retrying on a timer: the event loop keeps running) for current readers to finish, then truncates
 * the file. Retention runs in a background agent (the orchestrator).
 *
 * @module
 */
import { stat } from "node:fs/promises";
import { steadyClock } from "../deadline.ts";
import type { Logger } from "../log.ts";
import { storeErrorCode } from "../store/errors.ts";
import { every, purgeInChunks, type Store } from "../store/mod.ts";

export interface RetentionOptions {
  now?: () => number;
  log?: Logger;
  /** Keep messages that carry an idempotency key this long (dedup window). Default 8 days. */
  idempotencyMs?: number;
  /** Keep dead letters this long. Default 30 days. */
  deadLetterMs?: number;
  /**
   * Keep customer text this long (`conversation.retentionDays`): older dead letters are purged and older keyed
   * messages whose deliveries are done get `REDACTED_PAYLOAD`. Default: no limit beyond the ones above.
   */
  textMs?: number;
  /** Keep send-ledger rows this long. Default 8 days. */
  ledgerMs?: number;
  /** Above this `-wal` size a TRUNCATE checkpoint runs. Default 64 MiB. */
  walMaxBytes?: number;
  /** Size of the `-wal` file in bytes (default: stat of `<path>-wal`; 0 for a remote database). */
  walBytes?: () => Promise<number>;
  /** Rows per delete statement. Default 2,000. */
  chunk?: number;
  /**
   * Topics no agent will consume again, each with the reason its dead letters give (called hourly). Their deliveries
   * published over an hour before go to the dead letters.
   */
  abandoned?: () => Promise<{ topic: string; reason: string }[]>;
  /** Schedule for `start()`. Default 60 s. */
  intervalMs?: number;
  /** How often `start()` runs a PASSIVE checkpoint (a local database only). Default 1 s. */
  checkpointIntervalMs?: number;
}

export interface RetentionReport {
  messages: number;
  /** Keyed messages whose payload was replaced by `REDACTED_PAYLOAD`. */
  redacted: number;
  deadLetters: number;
  /** Deliveries of `abandoned` topics moved to the dead letters. */
  abandoned: number;
  ledger: number;
  walBytesBefore: number;
  walBytesAfter: number;
  checkpoint: "passive" | "truncate" | "truncate-busy" | "none";
}

export interface Retention {
  runOnce(): Promise<RetentionReport>;
  /** Runs at once, then every `intervalMs` until `stop()`. */
  start(): void;
  stop(): Promise<void>;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** What a redacted message's payload becomes: still JSON (claims read payloads with `json()`), no text. */
export const REDACTED_PAYLOAD = '{"redacted":true}';

const PURGE_KEYED = `DELETE FROM bus_messages WHERE id IN (
  SELECT id FROM bus_messages WHERE idem_key IS NOT NULL AND published_at < ?1 AND refs <= 0 LIMIT ?2)`;
const PURGE_DEAD = `DELETE FROM bus_dead_letters WHERE (msg_id, grp) IN (
  SELECT msg_id, grp FROM bus_dead_letters WHERE dead_at < ?1 LIMIT ?2)`;
/** Dead letters whose message was published before ?1. Reads every dead letter: run hourly only. */
const PURGE_DEAD_TEXT = `DELETE FROM bus_dead_letters WHERE (msg_id, grp) IN (
  SELECT x.msg_id, x.grp FROM bus_dead_letters x JOIN bus_messages m ON m.id = x.msg_id
  WHERE m.published_at < ?1 LIMIT ?2)`;
/** The first delivery of topic ?1 to group ?2 published at or after ?3 (by id). */
const ABANDONED_BOUND = `coalesce((SELECT min(d.msg_id) FROM bus_deliveries d
  JOIN bus_messages m ON m.id = d.msg_id WHERE d.topic = ?1 AND d.grp = ?2 AND m.published_at >= ?3), 1e18)`;
/**
 * The deliveries of topic ?1 to group ?2 before that one, but none queued behind one kept (a dead letter retried
 * goes to the end of its key's queue with its old id): what goes is a prefix of each key's queue, so no delivery kept
 * is left behind a deleted one (its key's order stays linked, with one head).
 */
const ABANDONED_OLD = `topic = ?1 AND grp = ?2 AND msg_id < ${ABANDONED_BOUND} AND msg_id NOT IN (
  WITH RECURSIVE behind(id) AS (
    SELECT next_id FROM bus_deliveries WHERE topic = ?1 AND grp = ?2 AND msg_id >= ${ABANDONED_BOUND}
    UNION SELECT d.next_id FROM behind JOIN bus_deliveries d ON d.grp = ?2 AND d.msg_id = behind.id)
  SELECT id FROM behind WHERE id IS NOT NULL)`;
/** ?4 reason, ?5 now. Followed by ABANDONED_DONE with the same ?1–?3, in one transaction. */
const ABANDONED_DEAD = `INSERT INTO bus_dead_letters (msg_id, grp, topic, okey, attempts, last_error, dead_at, fence)
  SELECT msg_id, grp, topic, okey, attempts, ?4, ?5, fence FROM bus_deliveries WHERE ${ABANDONED_OLD}`;
const ABANDONED_DONE = `DELETE FROM bus_deliveries WHERE ${ABANDONED_OLD}`;
/** The groups of topic ?1. */
const GROUPS = "SELECT grp FROM bus_subscriptions WHERE topic = ?1";
/**
 * Old send-ledger rows are read a chunk at a time in (started_at, reply_key) order and deleted by key, but not a
 * reply's that a dead letter can bring back (`bus dlq retry`): without its rows, a part already sent goes out again.
 * Its keys start with the outbound payload's `replyKey` and "#", or for a dead inbound message with its id and ":"
 * (the orchestrator's reply keys, `<inbound id>:<kind>`). Those stay old and are read again each run: checked in
 * memory (a set), never by a join per row, and skipped by the cursor, so an outage's thousands of dead letters do not
 * make each run scan them all once per row.
 */
const OLD_LEDGER = `SELECT reply_key, started_at FROM bus_send_ledger
  WHERE started_at < ?1 AND (started_at, reply_key) > (?2, ?3) ORDER BY started_at, reply_key LIMIT ?4`;
/** A row begun again since it was read (a redelivery) is not old any more: kept. */
const DELETE_LEDGER = `DELETE FROM bus_send_ledger WHERE reply_key IN (SELECT value FROM json_each(?1)) AND started_at < ?2`;
/**
 * Dead letters, and every message still to be delivered: a dead letter `bus dlq retry` brought back, and a new reply
 * to a retried inbound message, which reuses the old reply's key (`<inbound id>:answer`) and so its ledger rows.
 */
const DEAD_REPLIES = `SELECT d.msg_id AS id, m.payload ->> '$.replyKey' AS reply_key
  FROM bus_dead_letters d JOIN bus_messages m ON m.id = d.msg_id
  UNION
  SELECT d.msg_id, m.payload ->> '$.replyKey'
  FROM bus_deliveries d JOIN bus_messages m ON m.id = d.msg_id`;
/** Found through the partial index bus_messages_unredacted (migration 78): never a scan of what is redacted already. */
export const REDACT_KEYED = `UPDATE bus_messages SET payload = '${REDACTED_PAYLOAD}' WHERE id IN (
  SELECT id FROM bus_messages WHERE idem_key IS NOT NULL AND published_at < ?1 AND refs <= 0
    AND payload <> '${REDACTED_PAYLOAD}' LIMIT ?2)`;

export function createRetention(store: Store, opts: RetentionOptions = {}): Retention {
  const { client } = store;
  const now = opts.now ?? Date.now;
  const chunk = opts.chunk ?? 2_000;
  const walMaxBytes = opts.walMaxBytes ?? 64 * 1024 * 1024;
  const local = store.path !== undefined && store.path !== "" && store.path !== ":memory:";
  const walBytes = opts.walBytes ??
    (() => (local ? stat(`${store.path}-wal`).then((s) => s.size, () => 0) : Promise.resolve(0)));
  const deadLetterMs = Math.min(opts.deadLetterMs ?? 30 * DAY, opts.textMs ?? Infinity);
  let started = false;
  // The hourly pass counts its hour on a steady clock: a wall clock stepped back would hold it off for the step.
  const steady = steadyClock(now);
  let lastHourly = -Infinity;

  const purge = (sql: string, cut: number) => purgeInChunks(client, sql, cut, { chunk });

  async function purgeLedger(cut: number): Promise<number> {
    const dead = (await client.execute(DEAD_REPLIES)).rows;
    const inbound = new Set(dead.map((r) => `${r["id"]}`));
    const replies = new Set(dead.flatMap((r) => (r["reply_key"] == null ? [] : [String(r["reply_key"])])));
    const before = (key: string, sep: string) => (key.includes(sep) ? key.slice(0, key.indexOf(sep)) : undefined);
    const kept = (key: string) => inbound.has(before(key, ":") ?? "") || replies.has(before(key, "#") ?? "");
    let purged = 0;
    let after: [number, string] = [-1, ""];
    for (;;) {
      const rows = (await client.execute({ sql: OLD_LEDGER, args: [cut, ...after, chunk] })).rows;
      const keys = rows.map((r) => String(r["reply_key"])).filter((k) => !kept(k));
      if (keys.length > 0) {
        purged += (await client.execute({ sql: DELETE_LEDGER, args: [JSON.stringify(keys), cut] })).rowsAffected;
      }
      if (rows.length < chunk) return purged;
      const last = rows.at(-1)!;
      after = [Number(last["started_at"]), String(last["reply_key"])];
    }
  }

  /** Moves the old deliveries of the abandoned topics to the dead letters; returns how many. */
  async function deadLetterAbandoned(t: number): Promise<number> {
    let moved = 0;
    for (const { topic, reason } of (await opts.abandoned?.()) ?? []) {
      for (const g of (await client.execute({ sql: GROUPS, args: [topic] })).rows) {
        const args = [topic, String(g["grp"]), t - HOUR];
        const [dead] = await client.batch([
          { sql: ABANDONED_DEAD, args: [...args, reason, t] },
          { sql: ABANDONED_DONE, args },
        ], "write");
        moved += dead!.rowsAffected;
      }
    }
    return moved;
  }

  const runOnce = async (): Promise<RetentionReport> => {
    const t = now();
    const elapsed = steady();
    const hourly = elapsed - lastHourly >= HOUR;
    // Abandoned deliveries, then dead letters: a purged one's keyed message is done, so this run can redact it.
    const abandoned = hourly ? await deadLetterAbandoned(t) : 0;
    let deadLetters = await purge(PURGE_DEAD, t - deadLetterMs);
    if (hourly && opts.textMs !== undefined) deadLetters += await purge(PURGE_DEAD_TEXT, t - opts.textMs);
    const messages = await purge(PURGE_KEYED, t - (opts.idempotencyMs ?? 8 * DAY));
    const redacted = hourly && opts.textMs !== undefined ? await purge(REDACT_KEYED, t - opts.textMs) : 0;
    if (hourly) lastHourly = elapsed; // not before: a failed pass is tried again next run
    const ledger = await purgeLedger(t - (opts.ledgerMs ?? 8 * DAY));
    const walBytesBefore = await walBytes();
    let checkpoint: RetentionReport["checkpoint"] = "none";
    if (local) {
      await store.checkpoint("passive");
      checkpoint = "passive";
      if ((await walBytes()) > walMaxBytes) {
        checkpoint = (await store.checkpoint()) ? "truncate" : "truncate-busy";
      }
    }
    const report = {
      messages,
      redacted,
      deadLetters,
      abandoned,
      ledger,
      walBytesBefore,
      walBytesAfter: await walBytes(),
      checkpoint,
    };
    if (messages + redacted + deadLetters + abandoned + ledger > 0 || checkpoint.startsWith("truncate")) {
      opts.log?.info("bus retention", { ...report });
    }
    return report;
  };

  const retention = every(
    opts.intervalMs ?? 60_000,
    () => runOnce().catch((err) => opts.log?.warn("bus retention failed", { error: (err as Error).message })),
  );
  const checkpoints = every(
    opts.checkpointIntervalMs ?? 1_000,
    () =>
      store.checkpoint("passive")
        .catch((err) => opts.log?.debug("checkpoint failed", { code: storeErrorCode(err) })),
  );

  return {
    runOnce,
    start() {
      if (started) return;
      started = true;
      // At once: an orchestrator restarted more often than `intervalMs` must still purge.
      retention.start(0);
      if (local) checkpoints.start();
    },
    async stop() {
      started = false;
      await Promise.all([retention.stop(), checkpoints.stop()]);
    },
  };
}
