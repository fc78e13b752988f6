/**
 * Opens the libSQL database. For a local `file:` database every pooled connection gets WAL, `synchronous`,
 * a busy timeout and foreign keys when it is opened: the client pools connections and a PRAGMA run through
 * `execute()` would only reach one of them (RELIABILITY.md: per-connection settings silently reset).
 * A remote libSQL server (`libsql:`, `http(s):`, `ws(s):`) configures itself, so nothing per-connection is sent.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { type FileHandle, mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import {
  type Client,
  createClient,
  type InArgs,
  type InStatement,
  LibsqlError,
  type ResultSet,
  type TransactionMode,
} from "@libsql/client";
import { ConnectionPool, Sqlite3Client } from "@libsql/client/sqlite3";
import { URL_WITH_USERINFO } from "../config-types.ts";
import { observeBatchSteps } from "./batch-steps.ts";
import { storeErrorCode } from "./errors.ts";
import {
  type Connection,
  createGroupWriter,
  type GroupWriter,
  isSelectSql,
  isWriteSql,
  pauseSync,
  type Statement,
  type WriterOptions,
} from "./writer.ts";

export type { Client, InStatement, ResultSet, Row, Transaction } from "@libsql/client";

export type Synchronous = "normal" | "full";

export interface StoreOptions {
  /** libSQL URL: `file:PATH` (relative to the working directory), `libsql://…`, `http(s)://…`. */
  url: string;
  /** Auth token for a remote libSQL server. */
  authToken?: string;
  /**
   * `normal` (default) survives a process kill; `full` fsyncs inside every commit, holding the write lock for the
   * disk's time. What must survive a power loss (an ingress commit, RELIABILITY.md C5) uses `durableBatch`.
   */
  synchronous?: Synchronous;
  /** Milliseconds a writer waits for the lock before SQLITE_BUSY (≥ 5 s: lock errors must not reach callers). */
  busyTimeoutMs?: number;
  /**
   * A libSQL server over HTTP (`http(s):`, `libsql:`): how long a request may go unanswered before it fails as
   * unavailable. Default 60 s: far above a busy server's answer (its own lock wait is 5 s), so that only a partition
   * or a hung host reaches it — a write that was applied but whose answer never came is an unknown outcome, settled
   * as after a crash (the send ledger). `ws(s):` URLs use the WebSocket client, which has no such timeout.
   */
  remoteTimeoutMs?: number;
  /** A local file's writer reports each transaction's wait for the write lock and time holding it. */
  observeLock?: WriterOptions["observe"];
  /**
   * false: a local file that does not exist is an error (SQLITE_CANTOPEN) instead of a new database — what reading
   * commands pass, so a mistyped `--db` says so. Default true.
   */
  create?: boolean;
}

export interface Store {
  readonly client: Client;
  readonly url: string;
  /** Filesystem path of a local database, undefined for a remote one. */
  readonly path: string | undefined;
  /**
   * A write batch that resolves only once it is on disk (the WAL flushed, as synchronous=FULL would) whatever
   * `synchronous` says: what a webhook's 2xx follows (RELIABILITY.md C5). On a libSQL server: a write batch (the
   * server decides durability).
   */
  durableBatch(stmts: InStatement[]): Promise<ResultSet[]>;
  /**
   * Copies the WAL into the database file (local files only; a libSQL server manages its own WAL). `truncate`
   * (default) then truncates it, retrying for up to the busy timeout; false when readers or writers of other
   * processes kept it from completing. `passive` copies what no reader holds back, without waiting; false only when
   * another process's checkpoint was running.
   */
  checkpoint(mode?: "passive" | "truncate"): Promise<boolean>;
  /**
   * A libSQL server only: from now on a request, in flight or new, fails once unanswered for `ms` (not the remote
   * timeout). A stopping agent calls it: a server that hangs would otherwise hold its stop past TimeoutStopSec.
   */
  shortenRemoteTimeout?(ms: number): void;
  close(): void;
}

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
  readonly #busyTimeoutMs: number;

  constructor(path: string, options: { timeout: number }, maxConnections: number, init: string) {
    super(path, options, maxConnections);
    this.#init = init;
    this.#busyTimeoutMs = options.timeout;
  }

  override acquireSync(forTransaction = false): Connection {
    const db = super.acquireSync(forTransaction);
    if (this.#ready.has(db)) return db;
    // A new database is switched to WAL by the first connection that gets to it; SQLite answers another process's
    // switch with SQLITE_BUSY at once while that one holds a lock (no busy handler: it could deadlock), so the
    // settings are tried again, in short pauses, for up to the busy timeout.
    for (const deadline = Date.now() + this.#busyTimeoutMs;;) {
      try {
        db.exec(this.#init);
        break;
      } catch (err) {
        if (storeErrorCode(err).startsWith("SQLITE_BUSY") && Date.now() < deadline) {
          pauseSync(5);
          continue;
        }
        db.close();
        this.release(db);
        throw err;
      }
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

/**
 * The client of a local database file: writes go to the process's group writer (writer.ts), SELECTs run on its
 * connection between groups (cached prepared statements), everything else (PRAGMAs, interactive transactions,
 * DDL) on the pool. Same interface as every other libSQL client, so callers cannot tell (and a libSQL server URL needs
 * none of this).
 */
class LocalClient implements Client {
  readonly protocol = "file";
  readonly #pool: Sqlite3Client;
  readonly #writer: GroupWriter;

  constructor(pool: Sqlite3Client, writer: GroupWriter) {
    this.#pool = pool;
    this.#writer = writer;
  }

  get closed(): boolean {
    return this.#pool.closed;
  }

  execute(stmt: InStatement): ReturnType<Client["execute"]>;
  execute(sql: string, args?: InArgs): ReturnType<Client["execute"]>;
  async execute(stmtOrSql: InStatement, args?: InArgs) {
    const stmt = typeof stmtOrSql === "string" ? { sql: stmtOrSql, args: args ?? [] } : stmtOrSql;
    if (isSelectSql(stmt.sql)) {
      try {
        return this.#writer.read(stmt);
      } catch (err) {
        if (!storeErrorCode(err).startsWith("SQLITE_BUSY")) throw err;
        return this.#pool.execute(stmt);
      }
    }
    if (!isWriteSql(stmt.sql)) return this.#pool.execute(stmt);
    const [rs] = await this.#writer.write([stmt], { batch: false });
    return rs!;
  }

  batch(stmts: Array<InStatement | [string, InArgs?]>, mode?: TransactionMode): ReturnType<Client["batch"]> {
    if (mode !== "write") return this.#pool.batch(stmts, mode);
    return this.write(stmts, false);
  }

  /** A write batch; `durable`: resolved once flushed to disk, whatever the store's level. */
  write(stmts: Array<InStatement | [string, InArgs?]>, durable: boolean): ReturnType<Client["batch"]> {
    const normalized = stmts.map((s) => (Array.isArray(s) ? { sql: s[0], args: s[1] ?? [] } : s));
    return this.#writer.write(normalized, { batch: true, durable });
  }

  /** One PASSIVE checkpoint on the writer's connection. */
  passiveCheckpoint(): boolean {
    return this.#writer.checkpoint("PASSIVE");
  }

  /** A TRUNCATE checkpoint, retried on a timer until `waitMs` passed (the event loop keeps running meanwhile). */
  async truncateWal(waitMs: number): Promise<boolean> {
    const until = Date.now() + waitMs;
    while (!this.#writer.checkpoint("TRUNCATE")) {
      if (Date.now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  }

  migrate(stmts: InStatement[]): ReturnType<Client["migrate"]> {
    return this.#pool.migrate(stmts);
  }
  transaction(mode?: TransactionMode): ReturnType<Client["transaction"]> {
    return this.#pool.transaction(mode);
  }
  executeMultiple(sql: string): Promise<void> {
    return this.#pool.executeMultiple(sql);
  }
  sync(): ReturnType<Client["sync"]> {
    return this.#pool.sync();
  }
  reconnect(): void {
    void this.#pool.reconnect();
  }
  close(): void {
    this.#writer.close();
    this.#pool.close();
  }
}

/** Whether `path` is a directory (false when nothing, or a file, is there). */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The inode at `path`, undefined when there is no file. */
function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/**
 * fdatasync of the `-wal` file on a handle kept open (the WAL keeps its inode while connections are open; a
 * handle that fails is reopened next time). fsync is per file, so it flushes what the writer's connection wrote.
 * It also checks that the database file is still the one opened (`dbIno`): one deleted or replaced under the agents
 * would take every write from then on into a file nobody will open again, so a durable write (what a webhook's 2xx
 * waits for) fails instead, as the store being unavailable (503: the platform sends it again).
 */
function walSyncer(walPath: string, dbPath: string, dbIno: number | undefined): { sync(): Promise<void>; close(): void } {
  let current: Promise<{ handle: FileHandle; ino: number }> | undefined;
  const openWal = async () => {
    const handle = await open(walPath, "r");
    try {
      return { handle, ino: (await handle.stat()).ino };
    } catch (err) {
      await handle.close();
      throw err;
    }
  };
  const forget = () => {
    const stale = current;
    current = undefined;
    stale?.then((c) => c.handle.close()).catch(() => {});
  };
  return {
    async sync() {
      if (inodeOf(dbPath) !== dbIno) {
        throw Object.assign(
          new Error(`the database file ${dbPath} was deleted or replaced while this agent had it open: restart the agent`),
          { code: "SQLITE_CANTOPEN_REPLACED" },
        );
      }
      try {
        current ??= openWal();
        let { handle, ino } = await current;
        // SQLite deletes the WAL when the database's last connection closes and makes a new file: never flush a
        // deleted one. A stat by path is a few µs; only the flush itself leaves the event loop.
        if (statSync(walPath).ino !== ino) {
          forget();
          ({ handle } = await (current = openWal()));
        }
        await handle.datasync();
      } catch (err) {
        forget();
        throw Object.assign(new Error(`cannot flush the WAL to disk: ${String(err)}`), { code: "SQLITE_IOERR_FSYNC" });
      }
    },
    close: forget,
  };
}

/** The path inside a `file:` URL, or undefined for other schemes. */
export function filePathOf(url: string): string | undefined {
  if (!url.startsWith("file:")) return undefined;
  let path = url.slice("file:".length).split("?")[0] ?? "";
  if (path.startsWith("//")) path = path.slice(path.indexOf("/", 2));
  return decodeURIComponent(path);
}

/** Shows a database URL without credentials or query parameters. */
export function displayDbUrl(url: string): string {
  try {
    if (url.startsWith("file:")) return url.split("?")[0] ?? url;
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(unparsable URL)";
  }
}

/** SQL run on every new local connection. */
export function connectionSettings(synchronous: Synchronous, busyTimeoutMs: number): string {
  return [
    "PRAGMA journal_mode=WAL",
    `PRAGMA synchronous=${synchronous.toUpperCase()}`,
    `PRAGMA busy_timeout=${busyTimeoutMs}`,
    "PRAGMA foreign_keys=ON",
    // What the retention deletes is users' text: a deleted row's bytes are zeroed, and so is a freed page (FAST left
    // those, and B-tree balancing frees pages holding copies of live rows, deleted later). Measured 2026-12-03: no
    // visible cost on the bus's publish+ack, ~2% more WAL for a purge.
    "PRAGMA secure_delete=ON",
    // SQLite's checkpoint on commit only past 64 MiB (a safety net while no orchestrator runs): the orchestrator
    // checkpoints every second (src/bus/retention.ts), not the agent whose commit crossed 1,000 pages.
    "PRAGMA wal_autocheckpoint=16384",
  ].join(";\n");
}

/** Opens the store, creating the database's directory when it is a local file. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5_000;
  const path = filePathOf(opts.url);
  if (path === undefined) {
    // The client's errors quote the URL whole: a password in it would reach the terminal and the journal.
    if (URL_WITH_USERINFO.test(opts.url)) {
      throw new Error(
        `the store URL ${displayDbUrl(opts.url)} holds a user and password, which libSQL does not take: ` +
          "give a token as ?authToken= or in the variable store.authTokenEnv names",
      );
    }
    // A server that stops answering (a partition, a hung host) must not hold a webhook or a consumer forever: a request
    // unanswered after `remoteTimeoutMs` fails as unavailable (isStoreUnavailable).
    let remoteTimeoutMs = opts.remoteTimeoutMs ?? 60_000;
    // Aborts the requests in flight when shortenRemoteTimeout() was called (requests made after it do not listen).
    const inFlight = new AbortController();
    let shortened: ReturnType<typeof setTimeout> | undefined;
    // A refused token (401/403) otherwise reads only "Server returned HTTP status 401": say which setting to fix.
    const timed = async (request: Request) => {
      let response: Response;
      try {
        const timeout = AbortSignal.timeout(remoteTimeoutMs);
        response = await fetch(request, { signal: shortened ? timeout : AbortSignal.any([timeout, inFlight.signal]) });
      } catch (err) {
        // "fetch failed" alone names neither the server nor why; still a TypeError: an outage (isStoreUnavailable).
        if (!(err instanceof TypeError)) throw err;
        const why = err.cause instanceof Error ? `: ${err.cause.message}` : "";
        throw new TypeError(`fetch failed: cannot reach the libSQL server at ${new URL(request.url).origin}${why}`, {
          cause: err,
        });
      }
      if (response.status !== 401 && response.status !== 403) return response;
      // sqld always says why in `{"error": …}` (no token, the token expired, or it may only read); hrana would drop
      // it. Any other body (a proxy's page, its own auth) is no libSQL server's answer: a token there is not the
      // question, so the message says only what is known, and does not quote the page.
      const body: unknown = await response.json().catch(() => undefined);
      const error = (body as { error?: unknown } | undefined)?.error;
      if (typeof error !== "string") {
        const origin = new URL(request.url).origin;
        return new Response(
          `HTTP ${response.status} from ${origin}, which is not a libSQL server's answer (a proxy before it?): ` +
            "check the store URL and what is in front of the server",
          { status: response.status, headers: { "content-type": "text/plain" } },
        );
      }
      const reason = ` (${error.slice(0, 200)})`;
      // The request says whether a token went with it: the URL's ?authToken= takes one without opts.authToken.
      const sent = request.headers.has("authorization")
        ? `refused the auth token${reason}`
        : `refused the request without an auth token${reason}`;
      return new Response(
        `the libSQL server ${sent}: set store.authTokenEnv to the environment variable holding a token it accepts ` +
          "(with --db or AIDEAZZ_DB and no config file: the URL's ?authToken=)",
        { status: response.status, headers: { "content-type": "text/plain" } },
      );
    };
    observeBatchSteps();
    const client = createClient({
      url: opts.url,
      fetch: timed,
      ...(opts.authToken ? { authToken: opts.authToken } : {}),
    });
    return {
      client,
      url: opts.url,
      path,
      durableBatch: (stmts) => client.batch(stmts, "write"),
      checkpoint: () => Promise.resolve(true),
      shortenRemoteTimeout: (ms) => {
        remoteTimeoutMs = Math.min(remoteTimeoutMs, ms);
        clearTimeout(shortened);
        shortened = setTimeout(() => inFlight.abort(new DOMException("The operation timed out.", "TimeoutError")), ms);
      },
      close: () => {
        clearTimeout(shortened);
        client.close();
      },
    };
  }
  if (opts.create === false && path !== ":memory:" && !existsSync(path)) {
    throw new LibsqlError(`no database at ${path} (nothing was created; \`aideazz migrate\` creates it)`, "SQLITE_CANTOPEN");
  }
  // The -wal/-shm first: SQLite creates the database file before them, so another process creating a new database
  // at this moment cannot look like an orphan.
  if (path !== ":memory:" && path !== "" && (existsSync(`${path}-wal`) || existsSync(`${path}-shm`)) && !existsSync(path)) {
    // A new database beside the old one's WAL would read that WAL as its own: corrupt at once.
    throw new LibsqlError(
      `the database file ${path} is missing but its -wal/-shm files are there: it was deleted or moved while in use. ` +
        `Put it back (or restore a backup: README "Backups"), or, to start with an empty database, delete ${path}-wal ` +
        `and ${path}-shm`,
      "SQLITE_CANTOPEN",
    );
  }
  // Only a directory that is not there is made: Deno asks for write permission even for one that exists, and the
  // binary may write only in its own folders (a read command on a copy elsewhere needs none).
  if (path !== ":memory:" && path !== "" && !isDirectory(dirname(path))) {
    // A directory that cannot be made now (a mount not there yet, a file in its place) is the store unavailable, as
    // a file that cannot be opened is: an agent waits for it (runtime.ts).
    await mkdir(dirname(path), { recursive: true }).catch((err: Error) => {
      if (err.name === "NotCapable") throw err; // the CLI names the folders the binary may write
      throw new LibsqlError(`cannot create the database's directory ${dirname(path)}: ${err.message}`, "SQLITE_CANTOPEN");
    });
  }
  const synchronous = opts.synchronous ?? "normal";
  const memory = path === ":memory:";
  // An in-memory database exists only on the connection that opened it: one connection, no separate writer.
  const pool = new ConfiguredPool(path, { timeout: busyTimeoutMs }, memory ? 1 : 8,
    connectionSettings(synchronous, busyTimeoutMs));
  // Fail fast (like createClient does) when the file cannot be opened at all, naming the file.
  try {
    pool.release(pool.acquireSync());
  } catch (err) {
    if ((err as { code?: unknown }).code !== "SQLITE_NOTADB") throw err;
    throw new LibsqlError(`${path} is not a SQLite database (check the store URL or --db)`, "SQLITE_NOTADB");
  }
  const pooled = new Sqlite3Client(pool, "number");
  const writerPool = new ConfiguredPool(path, { timeout: 0 }, 1, connectionSettings(synchronous, 0));
  const wal = walSyncer(`${path}-wal`, path, inodeOf(path));
  const client = memory ? pooled : new LocalClient(pooled, createGroupWriter({
    open: () => writerPool.acquireSync(),
    release: (conn) => writerPool.release(conn),
    busyTimeoutMs,
    syncWal: wal.sync,
    ...(opts.observeLock ? { observe: opts.observeLock } : {}),
  }));
  const durableBatch = (stmts: InStatement[]) =>
    client instanceof LocalClient ? client.write(stmts, true) : client.batch(stmts, "write");
  const checkpoint = async (mode: "passive" | "truncate" = "truncate") => {
    if (client instanceof LocalClient) {
      return mode === "passive" ? client.passiveCheckpoint() : client.truncateWal(busyTimeoutMs);
    }
    const rs = await client.execute(`PRAGMA wal_checkpoint(${mode.toUpperCase()})`);
    return Number(rs.rows[0]?.["busy"] ?? 1) === 0;
  };
  const close = () => {
    client.close();
    wal.close();
  };
  return { client, url: opts.url, path, durableBatch, checkpoint, close };
}
