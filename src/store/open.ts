/**
 * Opens the libSQL database. For a local `file:` database every pooled connection gets WAL, `synchronous`,
 * a busy timeout and foreign keys when it is opened: the client pools connections and a PRAGMA run through
 * `execute()` would only reach one of them (RELIABILITY.md: per-connection settings silently reset).
 * A remote libSQL server (`libsql:`, `http(s):`, `ws(s):`) configures itself, so nothing per-connection is sent.
 *
 * @module
 */
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { type Client, createClient } from "@libsql/client";
import { ConnectionPool, Sqlite3Client } from "@libsql/client/sqlite3";

export type { Client, InStatement, ResultSet, Row, Transaction } from "@libsql/client";

export type Synchronous = "normal" | "full";

export interface StoreOptions {
  /** libSQL URL: `file:PATH` (relative to the working directory), `libsql://…`, `http(s)://…`. */
  url: string;
  /** Auth token for a remote libSQL server. */
  authToken?: string;
  /** `full` fsyncs every commit (the ingress choice, RELIABILITY.md C5); `normal` survives a process kill. */
  synchronous?: Synchronous;
  /** Milliseconds a writer waits for the lock before SQLITE_BUSY (≥ 5 s: lock errors must not reach callers). */
  busyTimeoutMs?: number;
}

export interface Store {
  readonly client: Client;
  readonly url: string;
  /** Filesystem path of a local database, undefined for a remote one. */
  readonly path: string | undefined;
  /**
   * Copies the WAL into the database file and truncates it (local files only; a libSQL server manages its
   * own WAL). Returns false when readers or writers of other processes kept it from completing.
   */
  checkpoint(): Promise<boolean>;
  close(): void;
}

type Connection = ReturnType<ConnectionPool["acquireSync"]>;
type Statement = ReturnType<Connection["prepare"]>;

/**
 * A connection pool that brings every new connection to the same settings before anyone uses it, and drops a
 * connection on which a statement failed. libsql leaves a statement that failed (e.g. `BEGIN IMMEDIATE` with
 * SQLITE_BUSY after the busy timeout) un-reset, and every later COMMIT on that connection then fails with
 * "cannot commit transaction - SQL statements in progress"; a fresh connection costs about a millisecond.
 */
class ConfiguredPool extends ConnectionPool {
  readonly #ready = new WeakSet<Connection>();
  readonly #failed = new WeakSet<Connection>();
  readonly #init: string;

  constructor(path: string, options: { timeout: number }, maxConnections: number, init: string) {
    super(path, options, maxConnections);
    this.#init = init;
  }

  override acquireSync(forTransaction = false): Connection {
    const db = super.acquireSync(forTransaction);
    if (this.#ready.has(db)) return db;
    try {
      db.exec(this.#init);
    } catch (err) {
      db.close();
      this.release(db);
      throw err;
    }
    this.#watchFailures(db);
    this.#ready.add(db);
    return db;
  }

  override release(db: Connection): void {
    if (this.#failed.has(db) && db.open) {
      // libsql closes lazily (when the handle is collected): end the transaction now, or its lock outlives us.
      try {
        if (db.inTransaction) db.exec("ROLLBACK");
      } catch { /* the connection is dropped either way */ }
      db.close(); // the base class drops closed connections
    }
    super.release(db);
  }

  #watchFailures(db: Connection): void {
    const prepare = db.prepare.bind(db);
    const failed = this.#failed;
    const watched = (sql: string): Statement => {
      const stmt = prepare(sql);
      for (const method of ["run", "all", "get"] as const) {
        const original = stmt[method].bind(stmt) as (...args: unknown[]) => unknown;
        (stmt as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
          try {
            return original(...args);
          } catch (err) {
            failed.add(db);
            throw err;
          }
        };
      }
      return stmt;
    };
    db.prepare = watched as Connection["prepare"];
  }
}

/** The path inside a `file:` URL, or undefined for other schemes. */
export function filePathOf(url: string): string | undefined {
  if (!url.startsWith("file:")) return undefined;
  let path = url.slice("file:".length).split("?")[0] ?? "";
  if (path.startsWith("//")) path = path.slice(path.indexOf("/", 2));
  return decodeURIComponent(path);
}

/** SQL run on every new local connection. */
export function connectionSettings(synchronous: Synchronous, busyTimeoutMs: number): string {
  return [
    "PRAGMA journal_mode=WAL",
    `PRAGMA synchronous=${synchronous.toUpperCase()}`,
    `PRAGMA busy_timeout=${busyTimeoutMs}`,
    "PRAGMA foreign_keys=ON",
  ].join(";\n");
}

/** Opens the store, creating the database's directory when it is a local file. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5_000;
  const path = filePathOf(opts.url);
  if (path === undefined) {
    const client = createClient({ url: opts.url, ...(opts.authToken ? { authToken: opts.authToken } : {}) });
    return { client, url: opts.url, path, checkpoint: () => Promise.resolve(true), close: () => client.close() };
  }
  if (path !== ":memory:" && path !== "") await mkdir(dirname(path), { recursive: true });
  const init = connectionSettings(opts.synchronous ?? "normal", busyTimeoutMs);
  // An in-memory database exists only on the connection that opened it: one connection.
  const pool = new ConfiguredPool(path, { timeout: busyTimeoutMs }, path === ":memory:" ? 1 : 8, init);
  // Fail fast (like createClient does) when the file cannot be opened at all.
  pool.release(pool.acquireSync());
  const client = new Sqlite3Client(pool, "number");
  const checkpoint = async () => {
    const rs = await client.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    return Number(rs.rows[0]?.["busy"] ?? 1) === 0;
  };
  return { client, url: opts.url, path, checkpoint, close: () => client.close() };
}
