/**
 * Applies pending migrations in one write transaction. Many agents start at once and all call this: the write
 * lock is taken up front (`BEGIN IMMEDIATE`), the others wait within the busy timeout, then find nothing to do.
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

async function currentVersion(client: Client): Promise<number | undefined> {
  try {
    const rs = await client.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations");
    return Number(rs.rows[0]?.["v"] ?? 0);
  } catch {
    return undefined; // no schema_migrations table yet
  }
}

/** Brings the schema up to date; safe to call from several processes at the same time. */
export async function migrate(
  client: Client,
  now: () => number = Date.now,
  migrations: readonly Migration[] = allMigrations,
): Promise<MigrateResult> {
  const latest = migrations.at(-1)?.version ?? 0;
  // A cheap read first, so an up-to-date database never takes the write lock at agent start.
  const seen = await currentVersion(client);
  if (seen !== undefined && seen > latest) throw new SchemaTooNewError(seen, latest);
  if (seen === latest) return { applied: [], version: latest };

  const tx = await client.transaction("write");
  try {
    await tx.execute(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    );
    const rs = await tx.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations");
    const version = Number(rs.rows[0]?.["v"] ?? 0);
    if (version > latest) throw new SchemaTooNewError(version, latest);
    const pending = migrations.filter((m) => m.version > version);
    for (const m of pending) {
      await tx.batch([
        ...m.statements,
        { sql: "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", args: [m.version, m.name, now()] },
      ]);
    }
    await tx.commit();
    return { applied: pending.map((m) => m.version), version: latest };
  } finally {
    tx.close();
  }
}
