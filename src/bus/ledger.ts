/**
 * The send ledger: "reply X was sent as platform message Y", so a redelivered reply is never sent twice
 * (RELIABILITY.md C1, C2). The bus delivers at least once; the ledger turns that into at most one send.
 *
 * Protocol for a channel agent handling an outbound reply (`replyKey` = the reply's key, e.g.
 * `${inboundId}:${part}`):
 * 1. `delivery.underLease((guard) => begin(replyKey, delivery.fence, { guard }))` records the intent before the
 *    send, atomically and only under the lease (on a bus on the same database the lease check is the batch's
 *    first statement; elsewhere `assertLease()` runs first): of two leases racing on one reply (a lost lease that
 *    is still running, C2) exactly one gets `"send"`. The lease is checked with the intent, not between it and
 *    the call: a process killed there would leave an unknown outcome for a message that never left, so nothing but
 *    the call follows the intent.
 * 2. `"send"` → send at once, then `recordSent(replyKey, platformMessageId)`; when the platform answered with
 *    an error (nothing was sent), `recordFailed(replyKey, fence, error)` so a retry may send again.
 * 3. `"sent"` → skip: it went out (platform id attached). Ack the delivery.
 * 4. `"pending"` → another attempt is between intent and outcome right now: throw, the bus retries later (where
 *    the platform can settle it, egress waits for that in the handler instead: src/agents/channel/egress.ts).
 *    An intent dated after now (the clock stepped back since: NTP, a restored VM) is re-based to now, the latest
 *    it can have been made, so it is held `staleMs` and not the length of the step too (`rebasedIntent`).
 * 5. `"unknown"` → an attempt recorded its intent `staleMs` ago and never its outcome: the process died
 *    between the HTTP call and `recordSent`. Whether the user got the message cannot be known (neither
 *    Telegram's sendMessage nor WhatsApp's /messages take an idempotency key). Choose per platform:
 *    - Telegram: at most once (skip; logged as an error and counted as a send error with code
 *      `outcome-unknown`). A duplicate reply is the most reported bug of chat agents, and this window is only
 *      a process dying between the intent's commit and the outcome's: the HTTP call (a lost lease or a
 *      stopping agent never aborts a call on the wire; a timeout counts as a network failure, retried) and
 *      the commit.
 *    - WhatsApp: settled by the message's status webhooks, which name the send
 *      (src/agents/whatsapp/statuses.ts); at most once when they cannot tell.
 *    - Our own web chat: at least once (`begin(…, { resendUnknown: true })` takes the send over), because the
 *      client drops a second message with the same reply key.
 *    - A streamed final reply (Telegram): at least once only when the unknown intent was a partial reply's post
 *      (`begin(…, { partial: true })`; the final takes it over with `resendUnknown: "partial"`). The user may be
 *      left with the text so far, and the whole answer as a new message is better than that; an unknown final
 *      send is skipped like any other reply's.
 *
 * Each batch commits on its own (`begin`: the intent's batch, then a read only when it was refused): no lock is
 * held across an `await`.
 *
 * @module
 */
import type { InStatement, Store } from "../store/mod.ts";

export type BeginResult =
  | { status: "send"; attempt: number }
  | { status: "sent"; platformId: string }
  | { status: "pending"; since: number }
  | { status: "unknown"; since: number };

/**
 * Whether to take over an intent whose outcome is unknown (older than `staleMs`): true always, "partial" only when
 * that intent was a partial reply's post, false never.
 */
export type ResendUnknown = boolean | "partial";

export interface BeginOptions {
  /** Default false. */
  resendUnknown?: ResendUnknown;
  /** This intent is a partial reply's post. */
  partial?: boolean;
  /** Statements the intent's batch runs first (`Delivery.underLease`'s guard): the intent commits only if they do. */
  guard?: InStatement[];
}

export interface SendLedger {
  begin(replyKey: string, fence: number, opts?: BeginOptions): Promise<BeginResult>;
  /** `with`: statements committed in the same batch, before the record (the channel's own rows about the send). */
  recordSent(replyKey: string, platformId: string, alongside?: InStatement[]): Promise<void>;
  /** Releases the intent of attempt `fence` (nothing was sent); an intent taken over since is left alone. */
  recordFailed(replyKey: string, fence: number, error: string): Promise<void>;
  /** The platform id the reply was sent as, or undefined. */
  wasSent(replyKey: string): Promise<string | undefined>;
  /** The sent parts `<replyKey>#<n>` of a reply with `n` ≥ `from`, by `n`. */
  sentParts(replyKey: string, from: number): Promise<{ index: number; platformId: string }[]>;
}

export interface SendLedgerOptions {
  now?: () => number;
  /** How long an intent without outcome counts as "pending" before it is "unknown". Default 60 s. */
  staleMs?: number;
  /** Applied to error text before it is stored as `last_error` (a platform may echo a secret in it). */
  redact?: (text: string) => string;
}

/** ?4: take over an unknown intent — 0 never, 1 a partial's only, 2 always. */
const BEGIN = `INSERT INTO bus_send_ledger (reply_key, state, fence, attempts, started_at, partial)
  VALUES (?1, 'sending', ?2, 1, ?3, ?6)
  ON CONFLICT (reply_key) DO UPDATE
    SET state = 'sending', fence = excluded.fence, attempts = attempts + 1, started_at = excluded.started_at,
      last_error = NULL, finished_at = NULL, partial = excluded.partial
    WHERE state = 'failed' OR (state = 'sending' AND started_at <= ?5 AND (?4 = 2 OR (?4 = 1 AND partial = 1)))
  RETURNING attempts`;
const READ = "SELECT state, platform_id, started_at FROM bus_send_ledger WHERE reply_key = ?1 LIMIT 1";
/** Keys from `<reply>#` up to `<reply>$` ("$" follows "#"): the reply's parts (and their `:repost`/`:instead` keys). */
const PARTS = `SELECT reply_key, platform_id FROM bus_send_ledger
  WHERE reply_key > ?1 || '#' AND reply_key < ?1 || '$' AND state = 'sent'`;
const SENT = `INSERT INTO bus_send_ledger (reply_key, state, fence, started_at, platform_id, finished_at)
  VALUES (?1, 'sent', 0, ?3, ?2, ?3)
  ON CONFLICT (reply_key) DO UPDATE SET state = 'sent', platform_id = ?2, finished_at = ?3, last_error = NULL`;
const FAILED = `UPDATE bus_send_ledger SET state = 'failed', last_error = ?2, finished_at = ?3
  WHERE reply_key = ?1 AND state = 'sending' AND fence = ?4`;
/** Kept as the re-based intent's `last_error` until it has an outcome (a take-over, `SENT` and `FAILED` replace it). */
const REBASED = "intent re-based: the clock stepped back after it";
const REBASE = `UPDATE bus_send_ledger SET started_at = ?2, last_error = ?3
  WHERE reply_key = ?1 AND state = 'sending' AND started_at > ?2`;

/**
 * A read that returns a row when the intent of `replyKey`, still without outcome, was re-based: its time is when a
 * later attempt found the clock behind it, not when it was made, so nothing shows how long ago that was.
 */
export function rebasedIntent(replyKey: string): InStatement {
  return {
    sql: "SELECT 1 FROM bus_send_ledger WHERE reply_key = ?1 AND state = 'sending' AND last_error = ?2 LIMIT 1",
    args: [replyKey, REBASED],
  };
}

/**
 * A send ledger on the store (table `bus_send_ledger`, migration 2; rows are purged by retention).
 *
 * @example
 * ```ts
 * const r = await delivery.underLease((guard) => ledger.begin(reply.replyKey, delivery.fence, { guard }));
 * if (r.status === "send") await ledger.recordSent(reply.replyKey, String((await api.sendMessage(chat, text)).message_id));
 * else if (r.status === "pending") throw new Error("reply is being sent by another attempt");
 * ```
 */
export function createSendLedger(store: Store, opts: SendLedgerOptions = {}): SendLedger {
  const { client } = store;
  const now = opts.now ?? Date.now;
  const staleMs = opts.staleMs ?? 60_000;
  const redact = opts.redact ?? ((t: string) => t);
  return {
    async begin(replyKey, fence, beginOpts = {}) {
      const takeOver = beginOpts.resendUnknown === "partial" ? 1 : beginOpts.resendUnknown ? 2 : 0;
      for (;;) {
        const t = now();
        const rs = await client.batch([
          ...(beginOpts.guard ?? []),
          { sql: BEGIN, args: [replyKey, fence, t, takeOver, t - staleMs, beginOpts.partial ? 1 : 0] },
        ], "write");
        const mine = rs.at(-1)!.rows[0];
        if (mine) return { status: "send", attempt: Number(mine["attempts"]) };
        // Read only when the intent was refused (one statement fewer on every send). An intent released since
        // the refusal (failed) may be taken now: claim again.
        const r = (await client.execute({ sql: READ, args: [replyKey] })).rows[0];
        if (r === undefined || r["state"] === "failed") continue;
        if (r["state"] === "sent") return { status: "sent", platformId: String(r["platform_id"]) };
        const since = Number(r["started_at"]);
        if (since > t) {
          // The clock stepped back since the intent: judged from its old time, it would stay pending for the step.
          await client.execute({ sql: REBASE, args: [replyKey, t, REBASED] });
          continue;
        }
        return since > t - staleMs ? { status: "pending", since } : { status: "unknown", since };
      }
    },
    async recordSent(replyKey, platformId, alongside = []) {
      const sent = { sql: SENT, args: [replyKey, platformId, now()] };
      if (alongside.length === 0) await client.execute(sent);
      else await client.batch([...alongside, sent], "write");
    },
    async recordFailed(replyKey, fence, error) {
      await client.execute({ sql: FAILED, args: [replyKey, redact(error).slice(0, 2_000), now(), fence] });
    },
    async wasSent(replyKey) {
      const rs = await client.execute({ sql: READ, args: [replyKey] });
      const r = rs.rows[0];
      return r && r["state"] === "sent" ? String(r["platform_id"]) : undefined;
    },
    async sentParts(replyKey, from) {
      const rs = await client.execute({ sql: PARTS, args: [replyKey] });
      return rs.rows
        .map((r) => ({ index: Number(/#(\d+)$/.exec(String(r["reply_key"]))?.[1] ?? -1), platformId: String(r["platform_id"]) }))
        .filter((p) => p.index >= from)
        .sort((a, b) => a.index - b.index);
    },
  };
}
