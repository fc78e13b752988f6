/**
 * The restart log in the store (`restarts`, migration 40): what the health job restarted, when, why, and
 * whether it worked. Flap protection reads each target's recent failure restarts back from it, because the
 * health job is a new process every minute. Writes are single `batch(…, "write")` calls (the store rule).
 *
 * @module
 */
import type { Client } from "../store/mod.ts";

export type RestartKind = "failure" | "recycle";

export interface RestartRecord {
  target: string;
  unit: string;
  at: number;
  kind: RestartKind;
  reason: string;
  /** "restart" or "reset-failed+restart". */
  action: string;
  ok: boolean;
  detail?: string | undefined;
}

/** Rows older than this are deleted when a new one is written. */
export const RESTART_RETENTION_MS = 30 * 24 * 3_600_000;

export interface RestartLog {
  /**
   * Records failure restart `r` unless `r.target` has a failure restart later than `r.at - quietMs`: its id,
   * or undefined when there is one (another health run's). Checked and written in one statement, so of two
   * overlapping runs only one records the restart, and only that one makes it.
   */
  claim(r: RestartRecord, quietMs: number): Promise<number | undefined>;
  /**
   * Records recycle `r` unless any target was restarted (either kind) later than `r.at - minGapMs`: its id, or
   * undefined. One statement, as `claim`: of two overlapping health runs only one recycles.
   */
  claimRecycle(r: RestartRecord, minGapMs: number): Promise<number | undefined>;
  /** Sets the outcome of a restart recorded before it was made. */
  settle(id: number, outcome: { ok: boolean; detail?: string | undefined }): Promise<void>;
  /** Times of `target`'s failure restarts at or after `since`. */
  failureTimes(target: string, since: number): Promise<number[]>;
  /** Time of the latest restart of any target (failure or recycle). */
  lastAt(now: number): Promise<number | undefined>;
  list(opts?: { since?: number; limit?: number }): Promise<RestartRecord[]>;
}

const INSERT = "INSERT INTO restarts (target, unit, at, kind, reason, action, ok, detail)";

function valuesOf(r: RestartRecord): (string | number | null)[] {
  return [r.target, r.unit, r.at, r.kind, r.reason, r.action, r.ok ? 1 : 0, r.detail ?? null];
}

export function createRestartLog(client: Client): RestartLog {
  /** Runs `insert` with the retention delete; the new row's id, or undefined when `insert` wrote none. */
  async function write(insert: { sql: string; args: (string | number | null)[] }, at: number) {
    const [inserted] = await client.batch([
      insert,
      { sql: "DELETE FROM restarts WHERE at < ?", args: [at - RESTART_RETENTION_MS] },
    ], "write");
    const id = inserted!.rows[0]?.["id"];
    return id === undefined ? undefined : Number(id);
  }
  /**
   * Records `r` unless a row matches `conflict` (with `args`): checked and written in one statement of plain SQL (no
   * lock held across calls), the same on a libSQL server.
   */
  const claimUnless = (r: RestartRecord, conflict: string, args: (string | number)[]) =>
    write({
      sql: `${INSERT} SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM restarts WHERE ${conflict}) RETURNING id`,
      args: [...valuesOf(r), ...args],
    }, r.at);
  return {
    // Not one recorded "ahead" of now (a clock stepped back since): it would hold the agent down until then.
    claim: (r, quietMs) =>
      claimUnless(r, "target = ? AND kind = 'failure' AND at > ? AND at <= ?", [r.target, r.at - quietMs, r.at]),
    claimRecycle: (r, minGapMs) => claimUnless(r, "at > ? AND at <= ?", [r.at - minGapMs, r.at]),
    async settle(id, outcome) {
      await client.execute({
        sql: "UPDATE restarts SET ok = ?, detail = ? WHERE id = ?",
        args: [outcome.ok ? 1 : 0, outcome.detail ?? null, id],
      });
    },
    async failureTimes(target, since) {
      const rs = await client.execute({
        sql: "SELECT at FROM restarts WHERE target = ? AND kind = 'failure' AND at >= ? ORDER BY at",
        args: [target, since],
      });
      return rs.rows.map((r) => Number(r["at"]));
    },
    async lastAt(now) {
      const rs = await client.execute({ sql: "SELECT max(at) AS at FROM restarts WHERE at <= ?", args: [now] });
      const at = rs.rows[0]?.["at"];
      return at === null || at === undefined ? undefined : Number(at);
    },
    async list(opts = {}) {
      const rs = await client.execute({
        sql: "SELECT * FROM restarts WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?",
        args: [opts.since ?? 0, opts.limit ?? 100],
      });
      return rs.rows.map((r) => ({
        target: String(r["target"]),
        unit: String(r["unit"]),
        at: Number(r["at"]),
        kind: String(r["kind"]) as RestartKind,
        reason: String(r["reason"]),
        action: String(r["action"]),
        ok: Number(r["ok"]) === 1,
        detail: r["detail"] === null ? undefined : String(r["detail"]),
      }));
    },
  };
}
