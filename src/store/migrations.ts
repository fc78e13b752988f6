/**
 * The database schema as an ordered list of migrations. Append only: a released migration never changes.
 * Each folder's tables are created by its own entry; all SQL here stays portable to a libSQL server.
 *
 * @module
 */

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "agents",
    statements: [
      `CREATE TABLE agent_heartbeats (
        agent TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        version TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        seen_at INTEGER NOT NULL
      ) STRICT`,
    ],
  },
];
