/**
 * Classifies database failures. A webhook that cannot commit answers 503 with Retry-After so the platform
 * redelivers later; it must never answer 2xx without a committed row.
 *
 * @module
 */
import { accessSync, constants, statSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname } from "node:path";

/** SQLite result codes meaning "the store cannot take writes right now" (lock held, read-only, disk full, I/O). */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN|PROTOCOL|NOTADB|CORRUPT)/;

function codeOf(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { code?: unknown; extendedCode?: unknown; cause?: unknown };
  for (const c of [e.extendedCode, e.code]) {
    if (typeof c === "string" && c.startsWith("SQLITE_")) return c;
  }
  return e.cause === undefined ? undefined : codeOf(e.cause);
}

/**
 * A libSQL server out of reach or saying "not now": a network failure, an HTTP 5xx or 429 (the server, or a proxy
 * before it, overloaded or restarting), no answer within the store's timeout, or the connection dropped (a WebSocket
 * or a stream closed), or a transaction it rolled back for holding the write lock past its timeout while another
 * client waited (sqld: 5 s; nothing of it committed). A 4xx such as 401 (a wrong token) is no outage: retrying does
 * not help.
 */
function remoteUnavailable(err: unknown): boolean {
  if (err instanceof TypeError) return /fetch|network|connect/i.test(err.message);
  if (typeof err !== "object" || err === null) return false;
  const e = err as { code?: unknown; cause?: unknown; name?: unknown };
  if (e.name === "TimeoutError") return true;
  if (e.code === "HRANA_WEBSOCKET_ERROR" || e.code === "HRANA_CLOSED_ERROR") return true;
  if (e.code === "TRANSACTION_TIMEOUT") return true;
  const status = (e.cause as { status?: unknown } | undefined)?.status;
  return e.code === "SERVER_ERROR" && typeof status === "number" && (status >= 500 || status === 429);
}

/** True when `err` says the database cannot be written now (retry later) rather than a bug in our SQL. */
export function isStoreUnavailable(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined) return UNAVAILABLE.test(code);
  return remoteUnavailable(err);
}

/** The SQLite error code of `err`, for logs and metrics. */
export function storeErrorCode(err: unknown): string {
  return codeOf(err) ?? "UNKNOWN";
}

/**
 * How a store failure reads in a health detail or a log line. `full`: its message — a libSQL server's failures have
 * no SQLite code ("UNKNOWN") and the message says why (unreachable, a refused token); a failure to open names the
 * path and the fix. Otherwise the code, which says enough for a local file's statement (SQLITE_BUSY). `path`: the
 * local database's file; a read-only answer then names the file this user cannot write (unwritableStoreFile).
 */
export function storeErrorText(err: unknown, full: boolean, path?: string): string {
  const text = full && err instanceof Error ? err.message : storeErrorCode(err);
  const readOnly = storeErrorCode(err).startsWith("SQLITE_READONLY");
  const why = path !== undefined && readOnly ? unwritableStoreFile(path) : "";
  return why ? `${text}: ${why}` : text;
}

/**
 * Which of the database `path`, its -wal, its -shm and its folder this user cannot write, and the fix; "" when it can
 * write them all. SQLITE_READONLY says only "readonly": most often a command run as root (`migrate`, `backup`, a
 * restore) left root's -wal/-shm beside the service user's database, and the agents wait for the store forever.
 */
export function unwritableStoreFile(path: string): string {
  if (path === ":memory:") return "";
  const user = currentUser();
  for (const file of [path, `${path}-wal`, `${path}-shm`, dirname(path)]) {
    try {
      accessSync(file, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") continue; // created when needed (-wal, -shm)
      if (code === "EROFS") return `${file} is on a read-only file system`;
      const target = file === dirname(path) ? file : `${path}*`;
      return `${file} is not writable by ${user} (owner uid ${ownerOf(file)}): ` +
        `run \`chown ${user}: ${target}\` and run every command that opens the store with sudo -u ${user}`;
    }
  }
  return "";
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "this user";
  }
}

function ownerOf(file: string): string {
  try {
    return String(statSync(file).uid);
  } catch {
    return "unknown";
  }
}
