/**
 * One writer per process for a local database file (PERFORMANCE.md: one writer path per process, group commit).
 *
 * Every write — a `batch(…, "write")`, or one INSERT/UPDATE/DELETE/REPLACE through `execute()` — joins a queue.
 * The writer commits everything queued in ONE transaction: one lock acquisition and one fsync for all of them.
 * Each caller's statements run inside their own savepoint, so a failing caller undoes only its own work and the
 * others commit; each caller still gets "all or nothing" for what it sent.
 *
 * Waiting for the lock blocks the event loop for at most a millisecond. SQLite's busy handler sleeps the thread
 * (1, 2, 5, 10 … 100 ms) and with it every webhook the process is serving; the writer's connection has
 * busy_timeout 0, retries `BEGIN IMMEDIATE` in 0.1 ms pauses for up to 1 ms (another process's commit holds the
 * lock for ~0.02–1 ms), then on a timer, while new writes keep joining the group. After `busyTimeoutMs` a
 * waiting write fails with SQLITE_BUSY (callers answer 503 / retry), exactly as the busy timeout did.
 *
 * A durable write (what a webhook's 2xx follows) resolves only after the WAL is flushed to disk: one fdatasync,
 * outside the lock and off the event loop, for every durable write committed before it started — durability
 * equal to synchronous=FULL (which fsyncs inside the commit, holding the lock for the disk's time).
 *
 * Statements run synchronously from BEGIN to COMMIT (no await in between), so nothing else of this process can
 * run while the lock is held. SELECTs run at once on the same connection between groups (WAL: they never wait
 * for a writer), so a SELECT issued before this process's own write was awaited does not see that write.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import {
  type InArgs,
  type InStatement,
  type InValue,
  LibsqlBatchError,
  LibsqlError,
  type ResultSet,
  type Row,
} from "@libsql/client";
import type { ConnectionPool } from "@libsql/client/sqlite3";
import { storeErrorCode } from "./errors.ts";

/** A libsql connection and statement, as the client's pool hands them out. */
export type Connection = ReturnType<ConnectionPool["acquireSync"]>;
export type Statement = ReturnType<Connection["prepare"]>;
/**
 * A prepared statement and, when it returns rows, their column names and types; `oneRow`: it returns at most one
 * (read with one step, see `returnsOneRow`).
 */
interface Prepared {
  stmt: Statement;
  columns: { names: string[]; types: string[] } | undefined;
  oneRow: boolean;
  params: Params;
}
/** What a statement takes (`parameters`): how many positional arguments, or the names of its named parameters. */
type Params = number | string[];
type SqlValue = null | string | number | bigint | Buffer;

interface Unit {
  stmts: InStatement[];
  /** Resolved only once the WAL holding its commit is on disk (fdatasync), whatever the store's level. */
  durable: boolean;
  /** From `batch()`: errors carry the statement's index (LibsqlBatchError). */
  batch: boolean;
  since: number;
  resolve(results: ResultSet[]): void;
  reject(err: unknown): void;
}

export interface WriterOptions {
  /** Opens the writer's connection: configured like the pool's, but with busy_timeout 0. */
  open(): Connection;
  /** Takes back a connection the writer closed: after an error that left it unusable, or at `close()`. */
  release(conn: Connection): void;
  /** How long a write may wait for the lock before it fails with SQLITE_BUSY. */
  busyTimeoutMs: number;
  /**
   * Flushes the WAL file to disk (fdatasync). Durable writes resolve after a flush that started after their
   * commit; one flush serves every durable write committed before it started.
   */
  syncWal(): Promise<void>;
  /**
   * Called after each transaction with how long its writes waited for the write lock (from the first attempt to
   * take it) and how long this process then held it (until COMMIT or ROLLBACK), in milliseconds: the held time is
   * what every other process's writes wait for.
   */
  observe?: (lock: { waitMs: number; holdMs: number }) => void;
  /** Milliseconds on a steady clock, for the busy timeout (default `performance.now()`). */
  now?: () => number;
  random?: () => number;
}

/** Most callers one transaction takes: bounds how long the lock is held. */
const MAX_GROUP = 256;
/** How long `begin` may pause the event loop for the lock before waiting on timers, and in which steps. */
const SPIN_MS = 1;
const SPIN_STEP_MS = 0.1;
const pauseCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread for `ms` (fractions too): for waits too short for a timer, where nothing else may run. */
export function pauseSync(ms: number): void {
  Atomics.wait(pauseCell, 0, 0, ms);
}
/**
 * Prepared statements kept per connection (the client re-prepares on every call: ~25 µs each). Under Deno every
 * native object libsql hands out (a statement from `prepare()`, the row iterator behind `all()`) also leaks over
 * 100 bytes outside the heap: Deno's Node-API frees the object but not its own wrapper of it (measured with
 * `npm run bench -- store`; Node does not leak). A cached statement is prepared once, and `returnsOneRow` reads
 * need no iterator: an idle channel agent's polls make none. The reads of several rows an agent makes for every
 * message return one row of JSON instead (json-rows.ts), and so do the bus's writes (src/bus/sqlite-sql.ts HELD).
 */
const MAX_CACHED = 256;

/**
 * True for SQL that returns at most one row: one statement without comments whose last clause is `LIMIT 1` (a
 * trailing LIMIT is the outermost query's), an `INSERT … VALUES (one row) … RETURNING` (the row it inserted or
 * updated), or a WAL checkpoint. These are read with `get()` (one step, then reset) instead of `all()`: a write's
 * first step makes all its changes.
 */
export function returnsOneRow(sql: string): boolean {
  if (/^\s*PRAGMA\s+wal_checkpoint\b/i.test(sql)) return true;
  if (sql.includes("--") || isManyStatements(sql)) return false;
  return /\bLIMIT\s+1\s*;?\s*$/i.test(sql) || insertsOneRow(sql);
}

/**
 * `INSERT … VALUES (…) … RETURNING …` with one row of values (and no SELECT before them, no compound query, no block
 * comment or double-quoted text to misread).
 */
function insertsOneRow(sql: string): boolean {
  const values = /^\s*INSERT\b(?:(?!\bSELECT\b)[^;])*?\bVALUES\s*\(/i.exec(sql);
  if (!values || !/\bRETURNING\b/i.test(sql) || /\/\*|"|\b(?:UNION|INTERSECT|EXCEPT)\b/i.test(sql)) return false;
  let depth = 1;
  let i = values[0].length;
  for (; i < sql.length && depth > 0; i++) {
    if (sql[i] === "'") {
      i = sql.indexOf("'", i + 1);
      if (i < 0) return false;
    } else if (sql[i] === "(") depth++;
    else if (sql[i] === ")") depth--;
  }
  return depth === 0 && !/^\s*,/.test(sql.slice(i));
}

/** The SQL without its quoted strings and comments. */
function toCode(sql: string): string {
  return sql.replace(/'[^']*'|"[^"]*"|--[^\n]*|\/\*[\s\S]*?\*\//g, " ");
}

/**
 * True for SQL holding more than one statement (code after a `;`), of which libsql would run only the first. The `;`
 * inside a `CREATE TRIGGER … BEGIN … END` ends no statement.
 */
export function isManyStatements(sql: string): boolean {
  const code = toCode(sql);
  return /;\s*\S/.test(code) && !/^\s*CREATE\s+(?:TEMP\w*\s+)?TRIGGER\b/i.test(code);
}

/**
 * The arguments a statement takes: the names of its named parameters (`:a`, `@a`, `$a`, without the prefix), or else
 * how many positional ones, as SQLite numbers them: `?N` is N, a bare `?` one more than the largest so far.
 */
export function parameters(sql: string): Params {
  const code = toCode(sql);
  const names = new Set(Array.from(code.matchAll(/[:@$]([A-Za-z_]\w*)/g), (m) => m[1]!));
  if (names.size > 0) return [...names];
  let max = 0;
  for (const [, n] of code.matchAll(/\?(\d*)/g)) max = n ? Math.max(max, Number(n)) : max + 1;
  return max;
}

/** True for SQL that writes and can run inside a transaction (routed to the writer by `execute()`). */
export function isWriteSql(sql: string): boolean {
  return /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*(?:INSERT|UPDATE|DELETE|REPLACE)\b/i.test(sql);
}

/** True for a plain SELECT: `read()` can run it on the writer's connection with a cached prepared statement. */
export function isSelectSql(sql: string): boolean {
  return /^\s*SELECT\b/i.test(sql);
}

export interface GroupWriter {
  write(stmts: InStatement[], opts: { batch: boolean; durable?: boolean }): Promise<ResultSet[]>;
  /**
   * Runs a SELECT now, between groups, on the writer's connection (its own read snapshot; prepared statements are
   * cached). Throws SQLITE_BUSY in the rare moments a WAL reader must wait (the caller reads through the pool).
   */
  read(stmt: InStatement): ResultSet;
  /**
   * One attempt at a checkpoint on the writer's connection (without waiting: busy_timeout 0); false when readers
   * or writers kept it from completing. On this connection because another one of this process would find it busy
   * right after this connection's first commit (libsql finalizes statements lazily).
   */
  checkpoint(mode: "PASSIVE" | "TRUNCATE"): boolean;
  close(): void;
}

export function createGroupWriter(opts: WriterOptions): GroupWriter {
  // A steady clock: a wall clock stepped back would hold a write behind a stuck lock for the step, one stepped forward
  // would fail every waiting write at once.
  const now = opts.now ?? (() => performance.now());
  const random = opts.random ?? Math.random;
  let queue: Unit[] = [];
  let db: Connection | undefined;
  const cache = new Map<string, Prepared>();
  let busyRounds = 0;
  /** When this group's first attempt to take the lock was made (performance.now()). */
  let lockSince: number | undefined;
  let scheduled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  // setImmediate runs after this turn's I/O callbacks: the writes its webhooks and handlers issue join one group.
  const schedule = () => {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(flush);
  };

  const drop = () => {
    cache.clear();
    if (db === undefined) return;
    try {
      if (db.open) db.close();
    } catch { /* dropped either way */ }
    opts.release(db);
    db = undefined;
  };

  // Durable writes: committed like any other, then flushed with one fdatasync of the WAL outside the lock
  // (synchronous=FULL would fsync while holding it, and every process would wait for the disk).
  let flushing: Promise<void> | undefined;
  let waiting: { resolve(): void; reject(err: unknown): void }[] = [];
  const flushWal = () => {
    if (flushing || waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    flushing = opts.syncWal().then(
      () => batch.forEach((w) => w.resolve()),
      (err) => batch.forEach((w) => w.reject(err)),
    ).finally(() => {
      flushing = undefined;
      flushWal(); // the writes committed while this flush ran
    });
  };
  const afterSync = (resolve: () => void, reject: (err: unknown) => void) => {
    waiting.push({ resolve, reject });
    flushWal();
  };

  /**
   * Takes the lock for a group. Another process's commit holds it for ~0.02–1 ms; a timer cannot wait that little
   * (Deno's fire after ≥ 2 ms), so the first wait of a group is short blocking pauses (≤ SPIN_MS in all); a lock
   * held longer than that is waited for on timers only.
   */
  const begin = (spin: boolean): Connection | "busy" => {
    for (let spun = 0;; spun += SPIN_STEP_MS) {
      try {
        db ??= opts.open();
        lockSince ??= performance.now(); // after opening: a new connection's PRAGMAs are not waiting
        db.exec("BEGIN IMMEDIATE"); // exec finalizes its statement: a BUSY here leaves the connection clean
        return db;
      } catch (err) {
        if (!storeErrorCode(err).startsWith("SQLITE_BUSY")) {
          drop();
          throw err;
        }
        if (!spin || spun >= SPIN_MS) return "busy";
        pauseSync(SPIN_STEP_MS);
      }
    }
  };

  function flush(): void {
    scheduled = false;
    timer = undefined;
    if (closed || queue.length === 0) return;
    let conn: Connection | "busy";
    try {
      conn = begin(busyRounds === 0);
    } catch (err) {
      lockSince = undefined;
      for (const u of queue.splice(0)) u.reject(toLibsqlError(err));
      return;
    }
    if (conn === "busy") return waitForLock();
    busyRounds = 0;
    const locked = performance.now();
    const waitMs = locked - (lockSince ?? locked);
    lockSince = undefined;
    const units = queue.splice(0, MAX_GROUP);
    commitGroup(conn, units);
    const holdMs = performance.now() - locked;
    if (queue.length > 0) schedule();
    opts.observe?.({ waitMs, holdMs });
  }

  function waitForLock(): void {
    const t = now();
    const expired = queue.filter((u) => t - u.since >= opts.busyTimeoutMs);
    if (expired.length > 0) {
      queue = queue.filter((u) => t - u.since < opts.busyTimeoutMs);
      const err = new LibsqlError("database is locked", "SQLITE_BUSY", "SQLITE_BUSY", 5);
      for (const u of expired) u.reject(err);
    }
    if (queue.length === 0) {
      lockSince = undefined;
      return;
    }
    // 1, 1, 2, 2, 4, 4 … ms (+ jitter): the lock is usually held for well under a millisecond.
    const delay = Math.min(4, 2 ** Math.floor(busyRounds++ / 2)) + random();
    scheduled = true;
    timer = setTimeout(flush, delay);
  }

  function commitGroup(conn: Connection, units: Unit[]): void {
    const savepoints = units.length > 1;
    const done: { unit: Unit; results: ResultSet[] }[] = [];
    try {
      for (const unit of units) {
        if (savepoints) conn.exec("SAVEPOINT w");
        try {
          done.push({ unit, results: unit.stmts.map((s, i) => runStatement(conn, s, unit.batch ? i : undefined)) });
          if (savepoints) conn.exec("RELEASE w");
        } catch (err) {
          // Alone, or SQLite rolled the whole transaction back itself (I/O error, disk full): everyone fails.
          if (!savepoints || !conn.inTransaction) throw err;
          conn.exec("ROLLBACK TO w");
          conn.exec("RELEASE w");
          unit.reject(err);
        }
      }
      conn.exec("COMMIT");
    } catch (err) {
      // The commit failed (disk full, I/O) or a lone caller's statement did: nothing of this group was written.
      try {
        if (conn.inTransaction) conn.exec("ROLLBACK");
      } catch {
        drop();
      }
      const error = toLibsqlError(err);
      for (const u of units) u.reject(error); // a unit rejected already keeps its first error
      return;
    }
    for (const { unit, results } of done) {
      if (!unit.durable) unit.resolve(results);
      else afterSync(() => unit.resolve(results), (err) => unit.reject(toLibsqlError(err)));
    }
  }

  function runStatement(conn: Connection, stmt: InStatement, index: number | undefined): ResultSet {
    const { sql, args } = typeof stmt === "string" ? { sql: stmt, args: [] as InArgs } : stmt;
    try {
      return execute(prepared(conn, sql), args ?? []);
    } catch (err) {
      cache.delete(sql); // a statement that failed may be left un-reset: never reuse it
      const e = toLibsqlError(err);
      if (index === undefined || !(e instanceof LibsqlError)) throw e;
      const message = e.cause instanceof Error ? e.cause.message : e.message;
      throw new LibsqlBatchError(message, index, e.code, e.extendedCode, e.rawCode, e.cause as Error | undefined);
    }
  }

  function prepared(conn: Connection, sql: string): Prepared {
    const hit = cache.get(sql);
    if (hit) return hit;
    // libsql runs the first statement only; a libSQL server refuses the text (SQL_MANY_STATEMENTS).
    if (isManyStatements(sql)) throw refused("SQLITE_MISUSE", "more than one statement in one: send each on its own");
    const stmt = conn.prepare(sql);
    stmt.safeIntegers(true);
    let columns: Prepared["columns"];
    try {
      stmt.raw(true);
      columns = columnsOf(stmt);
    } catch { /* raw() throws for a statement that returns no data */ }
    const entry = { stmt, columns, oneRow: returnsOneRow(sql), params: parameters(sql) };
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(sql, entry);
    return entry;
  }

  return {
    write(stmts, { batch, durable = false }) {
      if (closed) return Promise.reject(new LibsqlError("The client is closed", "CLIENT_CLOSED"));
      return new Promise<ResultSet[]>((resolve, reject) => {
        queue.push({ stmts, batch, durable, since: now(), resolve, reject });
        schedule();
      });
    },
    read(stmt) {
      if (closed) throw new LibsqlError("The client is closed", "CLIENT_CLOSED");
      db ??= opts.open();
      return runStatement(db, stmt, undefined);
    },
    checkpoint(mode) {
      if (closed) throw new LibsqlError("The client is closed", "CLIENT_CLOSED");
      db ??= opts.open();
      const rs = runStatement(db, `PRAGMA wal_checkpoint(${mode})`, undefined);
      return Number(rs.rows[0]?.["busy"] ?? 1) === 0;
    },
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      const err = new LibsqlError("The client is closed", "CLIENT_CLOSED");
      for (const u of queue.splice(0)) u.reject(err);
      drop();
    },
  };
}

/** Runs one prepared statement; rows as the client builds them (by index and by column name, integers as numbers). */
function execute({ stmt, columns, oneRow, params }: Prepared, args: InArgs): ResultSet {
  const bound = bindArgs(params, args);
  if (columns) {
    let raw: SqlValue[][];
    if (oneRow) {
      const row = stmt.get(bound) as SqlValue[] | undefined;
      raw = row ? [row] : [];
    } else raw = stmt.all(bound) as SqlValue[][];
    // SQLite re-prepared the statement after another process changed the schema (a `SELECT *` after a migration).
    if (raw[0] && raw[0].length !== columns.names.length) Object.assign(columns, columnsOf(stmt));
    const rows = raw.map((r) => toRow(r, columns.names));
    return resultSet(columns.names, columns.types, rows, 0, undefined);
  }
  const info = stmt.run(bound);
  return resultSet([], [], [], info.changes, BigInt(info.lastInsertRowid));
}

function columnsOf(stmt: Statement): NonNullable<Prepared["columns"]> {
  const cols = stmt.columns();
  return { names: cols.map((c) => c.name), types: cols.map((c) => c.type ?? "") };
}

/**
 * The arguments to bind, refusing what a libSQL server refuses (the scale-out path) and libsql would run otherwise:
 * more positional arguments than the statement takes (libsql ignores the extra ones) or fewer (it binds NULL), a named
 * parameter without a value (NULL), a value for a name the statement lacks (ignored), one kind for the other.
 */
function bindArgs(params: Params, args: InArgs): unknown[] | Record<string, unknown> {
  if (Array.isArray(args)) {
    if (args.length === params) return args.map(toSql);
    throw mismatch(params, `${args.length} positional`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(args)) out[/^[@$:]/.test(name) ? name.slice(1) : name] = toSql(value);
  const given = Object.keys(out);
  const exact = typeof params === "number"
    ? params === 0 && given.length === 0
    : given.length === params.length && params.every((n) => Object.hasOwn(out, n));
  if (!exact) throw mismatch(params, given.map((n) => `:${n}`).join(", ") || "none");
  return out;
}

function mismatch(params: Params, got: string): Error {
  const takes = typeof params === "number" ? `${params} positional` : params.map((n) => `:${n}`).join(", ");
  return refused("SQLITE_RANGE", `wrong arguments: the statement takes ${takes}, got ${got}`);
}

/** A statement refused before it ran, coded like libsql's own errors (toLibsqlError wraps it as it wraps theirs). */
function refused(code: string, message: string): Error {
  return Object.assign(new RangeError(message), { code });
}

function toSql(value: InValue): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new RangeError("Only finite numbers (not Infinity or NaN) can be passed as arguments");
  }
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (value instanceof Date) return value.valueOf();
  if (value === undefined) throw new TypeError("undefined cannot be passed as argument to the database");
  return value;
}

function fromSql(value: SqlValue): Row[number] {
  if (typeof value === "bigint") {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new RangeError("Received integer which cannot be safely represented as a JavaScript number");
    }
    return Number(value);
  }
  if (value instanceof Uint8Array) return new Uint8Array(value).buffer; // a copy: a Buffer may share its memory
  return value;
}

function toRow(values: SqlValue[], columns: string[]): Row {
  const row = {} as Row;
  Object.defineProperty(row, "length", { value: values.length });
  values.forEach((v, i) => {
    const value = fromSql(v);
    Object.defineProperty(row, i, { value });
    const column = columns[i]!;
    if (!Object.hasOwn(row, column)) {
      Object.defineProperty(row, column, { value, enumerable: true, configurable: true, writable: true });
    }
  });
  return row;
}

function resultSet(
  columns: string[],
  columnTypes: string[],
  rows: Row[],
  rowsAffected: number,
  lastInsertRowid: bigint | undefined,
): ResultSet {
  return {
    columns,
    columnTypes,
    rows,
    rowsAffected,
    lastInsertRowid,
    toJSON: () => ({ columns, columnTypes, rows, rowsAffected, lastInsertRowid: lastInsertRowid?.toString() }),
  };
}

/** libsql's SqliteError → LibsqlError with the base code (`SQLITE_CONSTRAINT`) and the extended one. */
function toLibsqlError(err: unknown): unknown {
  if (err instanceof LibsqlError || !(err instanceof Error)) return err;
  const e = err as Error & { code?: unknown; rawCode?: unknown };
  if (typeof e.code !== "string" || !e.code.startsWith("SQLITE_")) return err;
  const base = e.code.split("_").slice(0, 2).join("_");
  return new LibsqlError(e.message, base, e.code, typeof e.rawCode === "number" ? e.rawCode : undefined, e);
}
