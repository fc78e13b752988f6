/**
 * Graph API send errors → egress outcomes, per the retry classes of RELIABILITY.md:
 * never retried — 131047 (outside the 24 h window: the template instead, once, if configured), 131026
 * (undeliverable), 1320xx (template errors), 131049 (not delivered to keep engagement healthy), 131062 (this kind of
 * message cannot go to a BSUID); auth errors
 * (190/0/3/102/10 and the 200–299 "API Permission" range) and account blocks (368/131031/131042) hold every send (`authBackoffMs`) and then go back to
 * the bus, never dropped; retried with
 * back-off — 131056 (pair rate: 4^X s for that user), 131048 (spam rate: 4^X s for every send, a limit of the
 * business number), 130429, 80007 and 4 (throughput and rate limits: every send waits), 131057 (account in
 * maintenance: every send waits), 131000 (something went wrong), 133004 (server temporarily unavailable), 2 and
 * 131016 (service temporarily unavailable), 5xx, and network failures before a connection was made (from 131000 on:
 * Graph is down or out of reach, `unavailable`, handed back to the bus without end). A send left
 * without an answer (connection reset, timeout) has an unknown outcome: its status webhooks settle it.
 *
 * @module
 */
import { authBackoffMs, backoffMs, type SendOutcome } from "../channel/outcome.ts";
import type { GraphMessage, GraphResult } from "./graph.ts";

/** The token or the app's permission: 131005 is "access denied, permission not granted or removed". */
const AUTH_CODES = new Set([0, 3, 10, 102, 190, 131005]);
/**
 * The account cannot send to anyone until the business acts: 368 (temporarily blocked for policy violations),
 * 131031 (account locked), 131042 (payment eligibility), 133010 (the number is not registered on the platform).
 * Held like a refused token, never dropped.
 */
const ACCOUNT_CODES = new Set([368, 131031, 131042, 133010]);
const NEVER_RETRY = new Set([131047, 131026, 131049, 131051, 131052, 131053, 131062, 131008, 131009, 100]);
const ALL_WAIT = new Set([4, 80007, 130429, 131057]);
/** Meta calls these temporary whatever the HTTP status, which is often 400: retried, never failed for good. */
const CHAT_RETRY = new Set([2, 131000, 131016, 133004]);

/** True for the auth family: every later send fails the same way until the token is fixed. */
export function isAuthError(code: number): boolean {
  // 200–299: "API Permission: permission is either not granted or has been removed" (Meta's error codes).
  return AUTH_CODES.has(code) || (code >= 200 && code <= 299);
}

/** True for an account-wide block (policy, lock, payment): every later send fails until the business acts. */
export function isAccountBlocked(code: number): boolean {
  return ACCOUNT_CODES.has(code);
}

export function toGraphOutcome(
  result: Exclude<GraphResult, { ok: true }>,
  attempt: number,
  template: GraphMessage | undefined,
): SendOutcome<GraphMessage> {
  const backoff = backoffMs(attempt, 2_000, 2, 60_000);
  if ("network" in result) {
    // Sent again only when nothing reached Graph; else its status webhooks say whether it took the message.
    return result.network === "unsent"
      ? { kind: "retry", afterMs: backoff, scope: "chat", reason: "network error", code: "network", unavailable: true }
      : { kind: "unknown", reason: "no answer (network error or timeout)", code: "network" };
  }
  const n = result.error?.code;
  if (n === undefined) {
    const http = { reason: `HTTP ${result.status}`, code: `http_${result.status}` };
    if (result.status === 429) return { kind: "retry", afterMs: backoff, scope: "chat", ...http };
    return result.status >= 500
      ? { kind: "retry", afterMs: backoff, scope: "chat", ...http, unavailable: true }
      : { kind: "failed", ...http };
  }
  const failed = { reason: `${n}: ${result.error?.message ?? "error"}`, code: String(n) };
  if (n === 131047) {
    return template ? { kind: "failed", ...failed, instead: template } : { kind: "failed", ...failed };
  }
  if (n === 131056 || n === 131048) {
    // 4^X seconds — 4 s, 16 s, 64 s, …: for this user (pair rate), or for every chat (spam rate: Meta limits how
    // many messages the business number may send, whoever they are for).
    const scope = n === 131048 ? "all" : "chat";
    return { kind: "retry", afterMs: backoffMs(attempt, 4_000, 4, 15 * 60_000), scope, ...failed };
  }
  // The token is refused: every send fails the same way until the operator fixes it. Not retried at once (no
  // hammering with a bad token), and not dropped: every chat waits, then the reply goes back to the bus (retried
  // later, dead-lettered with this reason at the end: `aideazz bus dlq retry` once the token is fixed).
  if (isAuthError(n) || isAccountBlocked(n)) {
    return { kind: "retry", afterMs: authBackoffMs(attempt), scope: "all", ...failed };
  }
  if (ALL_WAIT.has(n)) return { kind: "retry", afterMs: backoff, scope: "all", ...failed };
  if (CHAT_RETRY.has(n)) return { kind: "retry", afterMs: backoff, scope: "chat", ...failed, unavailable: true };
  if (NEVER_RETRY.has(n) || (n >= 132000 && n < 133000)) {
    return { kind: "failed", ...failed };
  }
  if (result.status >= 500) return { kind: "retry", afterMs: backoff, scope: "chat", ...failed, unavailable: true };
  return { kind: "failed", ...failed };
}
