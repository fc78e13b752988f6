/**
 * Per-user abuse limits (RELIABILITY.md F3): messages per sliding minute, counted for every message before it is
 * answered (past the limit one notice a minute, then silence), and model tokens per UTC day, held before each
 * model call.
 *
 * The minute slides: a message is counted against this clock minute's messages plus the previous minute's,
 * weighted by how much of the previous minute is still inside the last 60 s. Fixed windows would let a flood
 * that straddles a minute boundary through twice (the limit at the end of one minute, again at the start of the
 * next). Refused messages count too, so a user who keeps flooding stays refused. One rate row per user (one
 * statement for the messages counted in one tick) and one token row per user and UTC day.
 *
 * A model call holds its most tokens (estimated input + reply limit) on the day's row before it starts, by one
 * conditional upsert, and the hold is replaced by what it used after: a user's turns in several chats at once
 * cannot all pass a check of what earlier turns spent. The call that crosses the budget is let through; the next
 * is refused. A process killed mid-call leaves its hold counted (for that day only).
 *
 * A web chat session is the browser's to choose, so a web chat message's tokens count on a second row too, its
 * client address's (`webchat.perAddressDailyTokens`): a hold is taken on both rows or on neither.
 *
 * @module
 */
import type { InboundMessage } from "../../bus/envelopes.ts";
import type { Config } from "../../config.ts";
import { batchCalls, type Client, jsonRowsSql, parseJsonRows } from "../../store/mod.ts";

export type LimitVerdict = { ok: true } | { ok: false; reason: "rate" | "tokens"; notify: boolean };

/** Whose daily tokens a model call counts: its user's, and a web chat client address's (with that budget). */
export interface TokenPayer {
  user: string;
  address?: { key: string; dailyTokens: number };
}

/** Tokens held on the day's rows of a payer (user, address) for a model call. */
export interface TokenHold {
  keys: string[];
  day: string;
  tokens: number;
}

/** The payer of `msg`'s model calls; a web chat address's budget defaults to 10 users' (0: no address limit). */
export function payerOf(config: Config, msg: InboundMessage): TokenPayer {
  const user = `${msg.channel}:${msg.userId}`;
  const agent = config.agents.find((a) => a.name === msg.agent);
  if (agent?.kind !== "webchat" || msg.clientAddress === undefined) return { user };
  const dailyTokens = agent.webchat.perAddressDailyTokens ?? 10 * config.conversation.perUserDailyTokens;
  return dailyTokens === 0 ? { user } : { user, address: { key: `address:${msg.agent}:${msg.clientAddress}`, dailyTokens } };
}

export interface UserLimits {
  /** Counts one message of `user` and says whether it may be answered. */
  admit(user: string): Promise<LimitVerdict>;
  /**
   * Holds `tokens` for a model call; refused when the user's (or the address's) tokens today reached its budget.
   * `notice: false`: a refusal nobody is told of (a follow-up call) does not take the minute's one notice.
   */
  hold(
    payer: TokenPayer,
    tokens: number,
    opts?: { notice?: boolean },
  ): Promise<{ ok: true; hold: TokenHold } | Exclude<LimitVerdict, { ok: true }>>;
  /** Replaces a hold by the tokens the call used (0 when it failed: our failures do not use up the user's budget). */
  settle(hold: TokenHold, used: number): Promise<void>;
  /** Adds model tokens spent on `payer` today (calls made without a hold: a role's follow-up calls). */
  spend(payer: TokenPayer, tokens: number): Promise<void>;
}

export interface UserLimitsOptions {
  client: Client;
  now: () => number;
  perMinute: number;
  dailyTokens: number;
}

const MINUTE_MS = 60_000;
const keysOf = (payer: TokenPayer) => (payer.address ? [payer.user, payer.address.key] : [payer.user]);
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** ?1 [[user, n], …]: each user once, with its messages counted now; ?2 this minute (epoch minutes). */
const COUNT = `INSERT INTO user_rate (user_key, minute, count, prev_count)
  SELECT j.value ->> 0, ?2, j.value ->> 1, 0 FROM json_each(?1) AS j WHERE true
  ON CONFLICT (user_key) DO UPDATE SET
    prev_count = CASE minute WHEN ?2 THEN prev_count WHEN ?2 - 1 THEN count ELSE 0 END,
    count = CASE minute WHEN ?2 THEN count + excluded.count ELSE excluded.count END,
    minute = ?2`;
/** After COUNT: each user's count and previous count (one row of JSON). */
const COUNTED = jsonRowsSql(
  `SELECT r.user_key, r.count, r.prev_count
  FROM json_each(?1) AS j CROSS JOIN user_rate AS r ON r.user_key = j.value ->> 0`,
  ["user_key", "count", "prev_count"],
);

/** Claims the minute's one notice: ?1 user, ?2 now. */
const NOTIFY = `UPDATE user_rate SET notified_at = ?2 WHERE user_key = ?1 AND notified_at <= ?2 - ${MINUTE_MS}`;

/** ?1 [key, …], ?2 day, ?3 tokens. */
const SPEND = `INSERT INTO user_tokens (user_key, day, tokens) SELECT j.value, ?2, ?3 FROM json_each(?1) AS j WHERE true
  ON CONFLICT (user_key, day) DO UPDATE SET tokens = tokens + excluded.tokens`;

/**
 * ?1 [[key, budget], …], ?2 day, ?3 tokens: adds the hold to every key's day unless one of them has reached its
 * budget (one statement: SQLite reads the rows it checks before it writes any).
 */
const HOLD = `INSERT INTO user_tokens (user_key, day, tokens)
  SELECT j.value ->> 0, ?2, ?3 FROM json_each(?1) AS j
  WHERE NOT EXISTS (SELECT 1 FROM json_each(?1) AS b JOIN user_tokens AS t ON t.user_key = b.value ->> 0 AND t.day = ?2
    WHERE t.tokens >= b.value ->> 1)
  ON CONFLICT (user_key, day) DO UPDATE SET tokens = tokens + excluded.tokens
  RETURNING user_key`;

/** ?1 [key, …], ?2 day, ?3 used less held. */
const SETTLE = `UPDATE user_tokens SET tokens = max(0, tokens + ?3)
  WHERE user_key IN (SELECT value FROM json_each(?1)) AND day = ?2`;

interface Counted {
  at: number;
  /** The message's place in its user's count of this minute; the previous minute's count. */
  count: number;
  prevCount: number;
}

export function createUserLimits(opts: UserLimitsOptions): UserLimits {
  const { client, now } = opts;

  /** Counts the messages of `users` (a user may be there more than once) with one statement, each in its place. */
  async function countAll(users: string[]): Promise<Counted[]> {
    const n = new Map<string, number>();
    for (const u of users) n.set(u, (n.get(u) ?? 0) + 1);
    const at = now();
    const args = [JSON.stringify([...n]), Math.floor(at / MINUTE_MS)];
    const [, counted] = await client.batch([{ sql: COUNT, args }, { sql: COUNTED, args: args.slice(0, 1) }], "write");
    const rows = new Map(parseJsonRows<[string, number, number]>(counted!.rows).map((r) => [r[0], r]));
    // A user's messages of this batch were counted together: the last of them has the count COUNTED reads.
    const left = new Map(n);
    return users.map((u) => {
      const [, total, prevCount] = rows.get(u)!;
      const after = left.get(u)! - 1;
      left.set(u, after);
      return { at, count: total - after, prevCount };
    });
  }
  // The messages counted in one tick (the turns a consumer round starts together) share one statement.
  const count = batchCalls(countAll);

  /** The minute's one notice: true for the first refusal of `user` in 60 s. */
  const claimNotice = async (user: string, at: number) =>
    (await client.execute({ sql: NOTIFY, args: [user, at] })).rowsAffected === 1;

  return {
    async admit(user) {
      const row = await count(user);
      const stillInWindow = 1 - (row.at % MINUTE_MS) / MINUTE_MS;
      if (row.count + row.prevCount * stillInWindow <= opts.perMinute) return { ok: true };
      return { ok: false, reason: "rate", notify: await claimNotice(user, row.at) };
    },
    async hold(payer, tokens, { notice = true } = {}) {
      const at = now();
      const day = dayOf(at);
      const budgets: [string, number][] = [[payer.user, opts.dailyTokens]];
      if (payer.address) budgets.push([payer.address.key, payer.address.dailyTokens]);
      const rs = await client.execute({ sql: HOLD, args: [JSON.stringify(budgets), day, tokens] });
      if (rs.rows.length > 0) return { ok: true, hold: { keys: budgets.map(([key]) => key), day, tokens } };
      return { ok: false, reason: "tokens", notify: notice && await claimNotice(payer.user, at) };
    },
    async settle(hold, used) {
      if (used === hold.tokens) return;
      await client.execute({ sql: SETTLE, args: [JSON.stringify(hold.keys), hold.day, used - hold.tokens] });
    },
    async spend(payer, tokens) {
      if (tokens <= 0) return;
      await client.execute({ sql: SPEND, args: [JSON.stringify(keysOf(payer)), dayOf(now()), tokens] });
    },
  };
}
