/**
 * Applies pending migrations. Many agents start at once and all call this. Each attempt is one `batch` in
 * write mode (BEGIN IMMEDIATE … COMMIT inside a single call): the version rows are inserted first, so a
 * process that lost the race fails on their primary key, rolls back whole, re-reads and finds nothing to do.
 *
 * Why not an interactive transaction: libSQL's busy handler waits synchronously, so a second connection of the
 * same process waiting for a lock that this process holds across an `await` blocks the event loop until the
 * busy timeout. Single-call batches never hold a lock across an `await`. This is the rule for all writes.
 *
 * @module
 */
import type { Client } from "./open.ts";
import { type Migration, migrations as allMigrations } from "./migrations.ts";

export interface MigrateResult {
  applied: number[];
  version: number;
}

export class SchemaTooNewError extends Error {
  constructor(readonly found: number, readonly known: number) {
    super(`database schema is at version ${found} but this aideazz knows only up to ${known}; upgrade the binary`);
    this.name = "SchemaTooNewError";
  }
}

const CREATE_TABLE =
  "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

async function appliedVersions(client: Client): Promise<Set<number>> {
  try {
    const rs = await client.execute("SELECT version FROM schema_migrations");
    return new Set(rs.rows.map((r) => Number(r["version"])));
  } catch {
    return new Set(); // no schema_migrations table yet: a new database
  }
}

/** Brings the schema up to date; safe to call from several processes at the same time. */
export async function migrate(
  client: Client,
  now: () => number = Date.now,
  migrations: readonly Migration[] = allMigrations,
): Promise<MigrateResult> {
  // Each folder appends its own entries, so apply by set membership in version order, not "above the max".
  const known = [...migrations].sort((a, b) => a.version - b.version);
  const latest = known.at(-1)?.version ?? 0;
  for (let attempt = 1;; attempt++) {
    const applied = await appliedVersions(client);
    const unknown = [...applied].filter((v) => !known.some((m) => m.version === v));
    if (unknown.length > 0) throw new SchemaTooNewError(Math.max(...unknown), latest);
    const pending = known.filter((m) => !applied.has(m.version));
    if (pending.length === 0) return { applied: [], version: latest };
    try {
      await client.batch([
        CREATE_TABLE,
        ...pending.map((m) => ({
          sql: "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
          args: [m.version, m.name, now()],
        })),
        ...pending.flatMap((m) => m.statements),
      ], "write");
      return { applied: pending.map((m) => m.version), version: latest };
    } catch (err) {
      // Another process applied (some of) them first: go round again; a real error repeats and is thrown.
      if (attempt >= 3 || (await appliedVersions(client)).size === applied.size) throw err;
    }
  }
}
