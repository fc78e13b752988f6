/**
 * Applies pending migrations. Many agents start at once and all call this. Each migration is one `batch` in write
 * mode (BEGIN IMMEDIATE … COMMIT inside a single call) with its version row inserted first, so a process that lost
 * the race fails on its primary key, rolls back whole, re-reads and carries on after it.
 *
 * One batch per migration, not one for all: a libSQL server rolls back a transaction that has held the write lock
 * past its transaction timeout (sqld: 5 s) as soon as another client waits to write — and running agents always
 * do — so an upgrade over big tables would otherwise fail whole, every time. Each migration done stays done; one
 * that alone runs longer than that on a busy server fails, saying to stop the agents while `aideazz migrate` runs.
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
  /**
   * Set when a newer release migrated the database past this binary's migrations (a rollback): its highest version.
   * This binary runs on it, its own migrations all applied: migrations only add (tables, columns with defaults,
   * indexes) or delete rows an older release would not write.
   */
  newer?: number;
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

/**
 * The versions applied, and the highest of a newer aideazz's (a rollback) when the database has every one of
 * `known`. Refuses a database with a newer aideazz's migrations and without one of `known`: applying it after
 * theirs may not be what either release expects.
 */
async function appliedKnown(client: Client, known: readonly Migration[]): Promise<{ done: Set<number>; newer?: number }> {
  const done = await appliedVersions(client);
  const unknown = [...done].filter((v) => !known.some((m) => m.version === v));
  if (unknown.length === 0) return { done };
  const newer = Math.max(...unknown);
  if (known.some((m) => !done.has(m.version))) throw new SchemaTooNewError(newer, known.at(-1)?.version ?? 0);
  return { done, newer };
}

/** Brings the schema up to date; safe to call from several processes at the same time. */
export async function migrate(
  client: Client,
  now: () => number = Date.now,
  migrations: readonly Migration[] = allMigrations,
): Promise<MigrateResult> {
  // Each folder appends its own entries, so apply by set membership in version order, not "above the max".
  const known = [...migrations].sort((a, b) => a.version - b.version);
  const first = await appliedKnown(client, known);
  if (first.newer !== undefined) return { applied: [], version: first.newer, newer: first.newer };
  let done = first.done;
  const applied: number[] = [];
  for (const m of known) {
    if (done.has(m.version)) continue;
    try {
      await client.batch([
        CREATE_TABLE,
        { sql: "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", args: [m.version, m.name, now()] },
        ...m.statements,
      ], "write");
      applied.push(m.version);
    } catch (err) {
      // Another process applied it first: carry on after it; a real error is thrown.
      done = (await appliedKnown(client, known)).done;
      if (done.has(m.version)) continue;
      // Not the server unavailable for now (isStoreUnavailable): the same migration would time out again, and an
      // agent would wait for it forever.
      if ((err as { code?: unknown }).code === "TRANSACTION_TIMEOUT") {
        throw new Error(
          `migration ${m.version} (${m.name}) held the libSQL server's write lock past its transaction timeout while ` +
            "other clients wrote, and was rolled back: stop the agents, then run `aideazz migrate`",
          { cause: err },
        );
      }
      throw err;
    }
  }
  return { applied, version: known.at(-1)?.version ?? 0 };
}

