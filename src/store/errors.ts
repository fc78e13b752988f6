/**
 * Classifies database failures. A webhook that cannot commit answers 503 with Retry-After so the platform
 * redelivers later; it must never answer 2xx without a committed row.
 *
 * @module
 */

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
 * path and the fix. Otherwise the code, which says enough for a local file's statement (SQLITE_BUSY).
 */
export function storeErrorText(err: unknown, full: boolean): string {
  return full && err instanceof Error ? err.message : storeErrorCode(err);
}
