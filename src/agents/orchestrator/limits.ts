/**
 * Per-user abuse limits (RELIABILITY.md F3), checked before any model call: messages per sliding minute (past
 * the limit one notice a minute, then silence) and model tokens per UTC day.
 *
 * The minute slides: a message is counted against this clock minute's messages plus the previous minute's,
 * weighted by how much of the previous minute is still inside the last 60 s. Fixed windows would let a flood
 * that straddles a minute boundary through twice (the limit at the end of one minute, again at the start of the
 * next). Refused messages count too, so a user who keeps flooding stays refused. One rate row per user (one
 * statement per message) and one token row per user and UTC day.
 *
 * @module
 */
import type { Client } from "../../store/mod.ts";

export type LimitVerdict = { ok: true } | { ok: false; reason: "rate" | "tokens"; notify: boolean };

export interface UserLimits {
  /** Counts one message of `user` and says whether it may be answered. */
  admit(user: string): Promise<LimitVerdict>;
  /** Adds model tokens spent on `user` today. */
  spend(user: string, tokens: number): Promise<void>;
}

export interface UserLimitsOptions {
  client: Client;
  now: () => number;
  perMinute: number;
  dailyTokens: number;
}

const MINUTE_MS = 60_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** ?1 user, ?2 this minute (epoch minutes), ?3 today. */
const COUNT = `INSERT INTO user_rate (user_key, minute, count, prev_count) VALUES (?1, ?2, 1, 0)
  ON CONFLICT (user_key) DO UPDATE SET
    prev_count = CASE minute WHEN ?2 THEN prev_count WHEN ?2 - 1 THEN count ELSE 0 END,
    count = CASE minute WHEN ?2 THEN count + 1 ELSE 1 END,
    minute = ?2
  RETURNING count, prev_count,
    coalesce((SELECT tokens FROM user_tokens WHERE user_key = ?1 AND day = ?3), 0) AS tokens`;

/** Claims the minute's one notice: ?1 user, ?2 now. */
const NOTIFY = `UPDATE user_rate SET notified_at = ?2 WHERE user_key = ?1 AND notified_at <= ?2 - ${MINUTE_MS}`;

const SPEND = `INSERT INTO user_tokens (user_key, day, tokens) VALUES (?1, ?2, ?3)
  ON CONFLICT (user_key, day) DO UPDATE SET tokens = tokens + excluded.tokens`;

export function createUserLimits(opts: UserLimitsOptions): UserLimits {
  const { client, now } = opts;
  return {
    async admit(user) {
      const at = now();
      const rs = await client.execute({ sql: COUNT, args: [user, Math.floor(at / MINUTE_MS), dayOf(at)] });
      const row = rs.rows[0]!;
      const stillInWindow = 1 - (at % MINUTE_MS) / MINUTE_MS;
      const lastMinute = Number(row["count"]) + Number(row["prev_count"]) * stillInWindow;
      const overRate = lastMinute > opts.perMinute;
      const overTokens = Number(row["tokens"]) >= opts.dailyTokens;
      if (!overRate && !overTokens) return { ok: true };
      const claimed = await client.execute({ sql: NOTIFY, args: [user, at] });
      return { ok: false, reason: overRate ? "rate" : "tokens", notify: claimed.rowsAffected === 1 };
    },
    async spend(user, tokens) {
      if (tokens <= 0) return;
      await client.execute({ sql: SPEND, args: [user, dayOf(now()), tokens] });
    },
  };
}
