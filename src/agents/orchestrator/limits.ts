/**
 * Per-user abuse limits (RELIABILITY.md F3), checked before any model call: messages per sliding minute (past
 * the limit one notice a minute, then silence) and model tokens per UTC day.
 *
 * The minute slides: a message is counted against this clock minute's messages plus the previous minute's,
 * weighted by how much of the previous minute is still inside the last 60 s. Fixed windows would let a flood
 * that straddles a minute boundary through twice (the limit at the end of one minute, again at the start of the
 * next). Refused messages count too, so a user who keeps flooding stays refused. One rate row per user (one
 * statement for the messages counted in one tick) and one token row per user and UTC day.
 *
 * @module
 */
import { batchCalls, type Client, jsonRowsSql, parseJsonRows } from "../../store/mod.ts";

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

/** ?1 [[user, n], …]: each user once, with its messages counted now; ?2 this minute (epoch minutes). */
const COUNT = `INSERT INTO user_rate (user_key, minute, count, prev_count)
  SELECT j.value ->> 0, ?2, j.value ->> 1, 0 FROM json_each(?1) AS j WHERE true
  ON CONFLICT (user_key) DO UPDATE SET
    prev_count = CASE minute WHEN ?2 THEN prev_count WHEN ?2 - 1 THEN count ELSE 0 END,
    count = CASE minute WHEN ?2 THEN count + excluded.count ELSE excluded.count END,
    minute = ?2`;
/** After COUNT, with ?2 (unused) and ?3 today: each user's count, previous count and tokens today (one row of JSON). */
const COUNTED = jsonRowsSql(
  `SELECT r.user_key, r.count, r.prev_count,
    coalesce((SELECT tokens FROM user_tokens AS t WHERE t.user_key = r.user_key AND day = ?3), 0) AS tokens
  FROM json_each(?1) AS j CROSS JOIN user_rate AS r ON r.user_key = j.value ->> 0`,
  ["user_key", "count", "prev_count", "tokens"],
);

/** Claims the minute's one notice: ?1 user, ?2 now. */
const NOTIFY = `UPDATE user_rate SET notified_at = ?2 WHERE user_key = ?1 AND notified_at <= ?2 - ${MINUTE_MS}`;

const SPEND = `INSERT INTO user_tokens (user_key, day, tokens) VALUES (?1, ?2, ?3)
  ON CONFLICT (user_key, day) DO UPDATE SET tokens = tokens + excluded.tokens`;

interface Counted {
  at: number;
  /** The message's place in its user's count of this minute; the previous minute's count; today's tokens. */
  count: number;
  prevCount: number;
  tokens: number;
}

export function createUserLimits(opts: UserLimitsOptions): UserLimits {
  const { client, now } = opts;

  /** Counts the messages of `users` (a user may be there more than once) with one statement, each in its place. */
  async function countAll(users: string[]): Promise<Counted[]> {
    const n = new Map<string, number>();
    for (const u of users) n.set(u, (n.get(u) ?? 0) + 1);
    const at = now();
    const args = [JSON.stringify([...n]), Math.floor(at / MINUTE_MS), dayOf(at)];
    const [, counted] = await client.batch([{ sql: COUNT, args: args.slice(0, 2) }, { sql: COUNTED, args }], "write");
    const rows = new Map(parseJsonRows<[string, number, number, number]>(counted!.rows).map((r) => [r[0], r]));
    // A user's messages of this batch were counted together: the last of them has the count COUNTED reads.
    const left = new Map(n);
    return users.map((u) => {
      const [, total, prevCount, tokens] = rows.get(u)!;
      const after = left.get(u)! - 1;
      left.set(u, after);
      return { at, count: total - after, prevCount, tokens };
    });
  }
  // The messages counted in one tick (the turns a consumer round starts together) share one statement.
  const count = batchCalls(countAll);

  return {
    async admit(user) {
      const row = await count(user);
      const { at } = row;
      const stillInWindow = 1 - (at % MINUTE_MS) / MINUTE_MS;
      const lastMinute = row.count + row.prevCount * stillInWindow;
      const overRate = lastMinute > opts.perMinute;
      const overTokens = row.tokens >= opts.dailyTokens;
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
