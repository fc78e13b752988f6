/**
 * Per-user abuse limits (RELIABILITY.md F3), checked before any model call: messages per minute (fixed
 * one-minute windows; past the limit one notice, then silence) and model tokens per UTC day.
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

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function createUserLimits(opts: UserLimitsOptions): UserLimits {
  const { client, now } = opts;
  return {
    async admit(user) {
      const at = now();
      const minute = Math.floor(at / 60_000);
      const rs = await client.execute({
        sql: `INSERT INTO user_usage (user_key, day, minute, minute_count, tokens) VALUES (?, ?, ?, 1, 0)
              ON CONFLICT (user_key, day) DO UPDATE SET
                minute_count = CASE WHEN minute = excluded.minute THEN minute_count + 1 ELSE 1 END,
                minute = excluded.minute
              RETURNING minute_count, tokens, notified_minute`,
        args: [user, dayOf(at), minute],
      });
      const row = rs.rows[0]!;
      const overRate = Number(row["minute_count"]) > opts.perMinute;
      const overTokens = Number(row["tokens"]) >= opts.dailyTokens;
      if (!overRate && !overTokens) return { ok: true };
      // One notice per minute window, however many messages arrive in it.
      const claimed = await client.execute({
        sql: "UPDATE user_usage SET notified_minute = ? WHERE user_key = ? AND day = ? AND notified_minute <> ?",
        args: [minute, user, dayOf(at), minute],
      });
      return { ok: false, reason: overRate ? "rate" : "tokens", notify: claimed.rowsAffected === 1 };
    },
    async spend(user, tokens) {
      if (tokens <= 0) return;
      await client.execute({
        sql: "UPDATE user_usage SET tokens = tokens + ? WHERE user_key = ? AND day = ?",
        args: [tokens, user, dayOf(now())],
      });
    },
  };
}
