/**
 * Retention: purges finished rows on a schedule and keeps the WAL bounded (RELIABILITY.md C7).
 *
 * Acked messages without an idempotency key are already gone (a trigger deletes them with their last
 * delivery), so the hot tables stay small without this job. It removes what is kept on purpose: keyed messages
 * after the dedup window (WhatsApp retries for up to 7 days, so 8 days by default), old dead letters and
 * send-ledger rows. Deletes go in chunks, each its own short write.
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
import type { Logger } from "../log.ts";
import { storeErrorCode } from "../store/errors.ts";
import type { Store } from "../store/mod.ts";

export interface RetentionOptions {
  now?: () => number;
  log?: Logger;
  /** Keep messages that carry an idempotency key this long (dedup window). Default 8 days. */
  idempotencyMs?: number;
  /** Keep dead letters this long. Default 30 days. */
  deadLetterMs?: number;
  /** Keep send-ledger rows this long. Default 8 days. */
  ledgerMs?: number;
  /** Above this `-wal` size a TRUNCATE checkpoint runs. Default 64 MiB. */
  walMaxBytes?: number;
  /** Size of the `-wal` file in bytes (default: stat of `<path>-wal`; 0 for a remote database). */
  walBytes?: () => Promise<number>;
  /** Rows per delete statement. Default 2,000. */
  chunk?: number;
  /** Schedule for `start()`. Default 60 s. */
  intervalMs?: number;
  /** How often `start()` runs a PASSIVE checkpoint (a local database only). Default 1 s. */
  checkpointIntervalMs?: number;
}

export interface RetentionReport {
  messages: number;
  deadLetters: number;
  ledger: number;
  walBytesBefore: number;
  walBytesAfter: number;
  checkpoint: "passive" | "truncate" | "truncate-busy" | "none";
}

export interface Retention {
  runOnce(): Promise<RetentionReport>;
  /** Runs every `intervalMs` until `stop()`. */
  start(): void;
  stop(): Promise<void>;
}

const DAY = 86_400_000;

const PURGE_KEYED = `DELETE FROM bus_messages WHERE id IN (
  SELECT id FROM bus_messages WHERE idem_key IS NOT NULL AND published_at < ?1 AND refs <= 0 LIMIT ?2)`;
const PURGE_DEAD = `DELETE FROM bus_dead_letters WHERE (msg_id, grp) IN (
  SELECT msg_id, grp FROM bus_dead_letters WHERE dead_at < ?1 LIMIT ?2)`;
const PURGE_LEDGER = `DELETE FROM bus_send_ledger WHERE reply_key IN (
  SELECT reply_key FROM bus_send_ledger WHERE started_at < ?1 LIMIT ?2)`;

export function createRetention(store: Store, opts: RetentionOptions = {}): Retention {
  const { client } = store;
  const now = opts.now ?? Date.now;
  const chunk = opts.chunk ?? 2_000;
  const walMaxBytes = opts.walMaxBytes ?? 64 * 1024 * 1024;
  const local = store.path !== undefined && store.path !== "" && store.path !== ":memory:";
  const walBytes = opts.walBytes ??
    (() => (local ? stat(`${store.path}-wal`).then((s) => s.size, () => 0) : Promise.resolve(0)));
  let started = false;

  const purge = async (sql: string, cut: number) => {
    let total = 0;
    for (;;) {
      const rs = await client.execute({ sql, args: [cut, chunk] });
      total += rs.rowsAffected;
      if (rs.rowsAffected < chunk) return total;
    }
  };

  const runOnce = async (): Promise<RetentionReport> => {
    const t = now();
    const messages = await purge(PURGE_KEYED, t - (opts.idempotencyMs ?? 8 * DAY));
    const deadLetters = await purge(PURGE_DEAD, t - (opts.deadLetterMs ?? 30 * DAY));
    const ledger = await purge(PURGE_LEDGER, t - (opts.ledgerMs ?? 8 * DAY));
    const walBytesBefore = await walBytes();
    let checkpoint: RetentionReport["checkpoint"] = "none";
    if (local) {
      await client.execute("PRAGMA wal_checkpoint(PASSIVE)");
      checkpoint = "passive";
      if ((await walBytes()) > walMaxBytes) {
        checkpoint = (await store.checkpoint()) ? "truncate" : "truncate-busy";
      }
    }
    const report = {
      messages,
      deadLetters,
      ledger,
      walBytesBefore,
      walBytesAfter: await walBytes(),
      checkpoint,
    };
    if (messages + deadLetters + ledger > 0 || checkpoint.startsWith("truncate")) {
      opts.log?.info("bus retention", { ...report });
    }
    return report;
  };

  /** Runs `task` every `ms` (after the previous run ended) while started. */
  const every = (ms: number, task: () => Promise<unknown>) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running: Promise<unknown> | undefined;
    const next = () => {
      timer = setTimeout(() => {
        running = task().finally(() => {
          running = undefined;
          if (started) next();
        });
      }, ms);
    };
    return {
      start: next,
      async stop() {
        clearTimeout(timer);
        await running;
      },
    };
  };
  const retention = every(
    opts.intervalMs ?? 60_000,
    () => runOnce().catch((err) => opts.log?.warn("bus retention failed", { error: (err as Error).message })),
  );
  const checkpoints = every(
    opts.checkpointIntervalMs ?? 1_000,
    () =>
      client.execute("PRAGMA wal_checkpoint(PASSIVE)")
        .catch((err) => opts.log?.debug("checkpoint failed", { code: storeErrorCode(err) })),
  );

  return {
    runOnce,
    start() {
      if (started) return;
      started = true;
      retention.start();
      if (local) checkpoints.start();
    },
    async stop() {
      started = false;
      await Promise.all([retention.stop(), checkpoints.stop()]);
    },
  };
}
