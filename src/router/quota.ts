/**
 * Proactive quotas: per provider and model, four token buckets (requests/minute, requests/day, tokens/minute,
 * tokens/day) kept in the store, so they survive restarts and several processes share them. The chain takes from
 * them BEFORE it calls a provider and routes around one whose bucket is empty, instead of waiting for its 429.
 *
 * Each bucket holds `limit` and refills continuously at `limit` per window. Both the check-and-take and every
 * correction are single SQL statements on one row: SQLite takes the write lock before a write statement reads,
 * so concurrent processes cannot both take the last request. Corrections come from the provider's own numbers
 * (`x-ratelimit-*` remaining/limit, reset times) and from `retry-after`, which blocks the model until then. The
 * providers' limits refill continuously too (Groq's and Anthropic's reset is when the window is full again): a window
 * they report empty lets the next request through once one has come back, not at its reset.
 *
 * @module
 */
import type { Client } from "../store/mod.ts";
import type { QuotaLimits } from "./config.ts";
import type { RateLimitInfo } from "./providers/types.ts";

export type QuotaDim = "rpm" | "rpd" | "tpm" | "tpd";

const WINDOW_MS: Record<QuotaDim, number> = { rpm: 60_000, rpd: 86_400_000, tpm: 60_000, tpd: 86_400_000 };
const DIMS: readonly QuotaDim[] = ["rpm", "rpd", "tpm", "tpd"];
const CONFIG_FIELD: Record<QuotaDim, keyof QuotaLimits> = {
  rpm: "requestsPerMinute",
  rpd: "requestsPerDay",
  tpm: "tokensPerMinute",
  tpd: "tokensPerDay",
};

export type QuotaCheck =
  | { ok: true }
  | { ok: false; reason: QuotaDim | "blocked"; /** Epoch ms when the call would fit. */ retryAt: number };

export interface QuotaSettle {
  /** Tokens taken before the call (estimate) and tokens the call really used: the difference is given back. */
  takenTokens: number;
  usedTokens: number;
  /** The provider's own numbers from its response headers. */
  rateLimit?: RateLimitInfo | undefined;
  /** A 429's retry-after: the model is blocked until now + this. */
  blockForMs?: number | undefined;
}

export interface Quota {
  /** Creates or updates the row of a provider and model with the configured limits (learned ones are kept). */
  ensure(provider: string, model: string, limits: QuotaLimits | undefined): Promise<void>;
  /** Read-only: whether one request of `tokens` would fit now. */
  canUse(provider: string, model: string, tokens: number): Promise<QuotaCheck>;
  /** Atomically checks every bucket and takes one request and `tokens` from them; nothing is taken when not ok. */
  take(provider: string, model: string, tokens: number): Promise<QuotaCheck>;
  /** After a call: gives back unused tokens and applies the provider's numbers and retry-after. */
  settle(provider: string, model: string, s: QuotaSettle): Promise<void>;
}

/**
 * A row stamped further ahead than this was stamped before the wall clock stepped back (NTP, a restored VM): its
 * buckets refill from the next reading on instead of staying as they are for the length of the step. Readings of
 * processes that waited for the write lock are at most its busy timeout out of order.
 */
const STEPPED_MS = 60_000;
const STAMP = `CASE WHEN updated_at > :now + ${STEPPED_MS} THEN :now ELSE max(updated_at, :now) END`;
/** A block set before such a step lasts what was left of it at the row's last write, from now on. */
const BLOCKED = `CASE WHEN updated_at > :now + ${STEPPED_MS} THEN blocked_until - (updated_at - :now) ELSE blocked_until END`;

function refill(d: QuotaDim): string {
  return `min(${d}_limit, ${d}_avail + max(0, :now - updated_at) * ${d}_limit / ${WINDOW_MS[d]}.0)`;
}

function cost(d: QuotaDim): string {
  return d === "rpm" || d === "rpd" ? "1" : `min(:tokens, ${d}_limit)`;
}

/** What settling gives back: the tokens the take took from the bucket (at most its limit) less those used. */
function adjust(d: QuotaDim): string {
  return d === "rpm" || d === "rpd" ? "0" : `(min(:taken, ${d}_limit) - :used)`;
}

const TAKE_SQL = `UPDATE router_quota SET
  ${
  DIMS.map((d) => `${d}_avail = CASE WHEN ${d}_limit IS NULL THEN NULL ELSE ${refill(d)} - ${cost(d)} END`)
    .join(",\n  ")
},
  updated_at = ${STAMP},
  blocked_until = ${BLOCKED}
WHERE provider = :provider AND model = :model AND ${BLOCKED} <= :now
  AND ${DIMS.map((d) => `(${d}_limit IS NULL OR ${refill(d)} >= ${cost(d)})`).join("\n  AND ")}
RETURNING ${DIMS.map((d) => `${d}_limit IS NULL`).join(" AND ")} AS unlimited`;

/**
 * One statement for every correction. Per bucket: a reported limit becomes the limit, capped by the configured one
 * (`${d}_cfg`, as the last `ensure` stored it), so one learned from the provider follows it up (a paid tier) as well
 * as down; a reported remaining only lowers the estimate (the bucket refilled, with `adj` back): it was counted when
 * the provider answered (a stream's headers come at its start), so the calls taken since are not in it, and it may
 * be of the provider's larger limit than the operator's share. The first numbers of a bucket without a limit are
 * taken as they are. A window reported empty (`${d}_hfull`: ms until its reset, when the provider's is full again)
 * refills from then at the bucket's rate, its limit (at most the provider's) a window; when the reset is further off
 * than a window, the bucket starts below empty so that it is full no sooner than the provider's.
 */
const SETTLE_SQL = `UPDATE router_quota SET
  ${
  DIMS.map((d) => {
    const newLimit = `CASE WHEN :${d}_hlim IS NULL THEN ${d}_limit WHEN ${d}_cfg IS NULL THEN :${d}_hlim ` +
      `ELSE min(${d}_cfg, :${d}_hlim) END`;
    const full = `(${newLimit}) * (1 - coalesce(:${d}_hfull, 0) / ${WINDOW_MS[d]}.0)`;
    return `${d}_limit = ${newLimit},
  ${d}_avail = CASE WHEN (${newLimit}) IS NULL THEN NULL
    WHEN ${d}_limit IS NULL THEN min(${newLimit}, coalesce(:${d}_hrem, ${newLimit}), ${full})
    WHEN :${d}_hrem IS NOT NULL THEN min(${newLimit}, ${refill(d)} + ${adjust(d)}, :${d}_hrem, ${full})
    ELSE min(${newLimit}, ${refill(d)} + ${adjust(d)}) END`;
  }).join(",\n  ")
},
  updated_at = ${STAMP},
  blocked_until = max(${BLOCKED}, :blocked_until)
WHERE provider = :provider AND model = :model`;

function dimOf(w: RateLimitInfo["windows"][number]): QuotaDim | undefined {
  if (w.unit === "requests") return w.period === "minute" ? "rpm" : "rpd";
  if (w.unit === "tokens") return w.period === "minute" ? "tpm" : "tpd";
  return undefined; // input/output token windows: covered by the combined token window
}

interface Row {
  updated_at: number;
  blocked_until: number;
  limits: Record<QuotaDim, number | null>;
  avail: Record<QuotaDim, number | null>;
}

function toRow(r: Record<string, unknown>): Row {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const limits = {} as Record<QuotaDim, number | null>;
  const avail = {} as Record<QuotaDim, number | null>;
  for (const d of DIMS) {
    limits[d] = n(r[`${d}_limit`]);
    avail[d] = n(r[`${d}_avail`]);
  }
  return { updated_at: Number(r["updated_at"]), blocked_until: Number(r["blocked_until"]), limits, avail };
}

/** Which bucket stops a call of `tokens` now, and when it would fit; undefined when it fits. */
export function quotaVerdict(row: Row, tokens: number, now: number): QuotaCheck {
  if (row.blocked_until > now) return { ok: false, reason: "blocked", retryAt: row.blocked_until };
  let worst: QuotaCheck = { ok: true };
  for (const d of DIMS) {
    const limit = row.limits[d];
    const avail = row.avail[d];
    if (limit === null || avail === null || limit <= 0) continue;
    const level = Math.min(limit, avail + Math.max(0, now - row.updated_at) * limit / WINDOW_MS[d]);
    const need = d === "rpm" || d === "rpd" ? 1 : Math.min(tokens, limit);
    if (level >= need) continue;
    const retryAt = now + Math.ceil((need - level) * WINDOW_MS[d] / limit);
    if (worst.ok || retryAt > worst.retryAt) worst = { ok: false, reason: d, retryAt };
  }
  return worst;
}

export interface QuotaOptions {
  client: Client;
  now: () => number;
}

export function createQuota({ client, now }: QuotaOptions): Quota {
  const known = new Set<string>();
  // Rows with no limit at all (a local model, a provider that sends no rate-limit headers): a cheap read checks
  // them instead of a write, and settling them writes nothing unless the provider reported numbers.
  const unlimited = new Set<string>();
  const keyOf = (provider: string, model: string) => `${provider}\u0000${model}`;
  const isUnlimited = (row: Row) => DIMS.every((d) => row.limits[d] === null);

  /**
   * The row of a provider and model with the configured limits. A window the config no longer limits (a paid tier's
   * operator deleted it) drops the limit it had from the config, but keeps one the provider reported lower.
   */
  async function configure(provider: string, model: string, limits: QuotaLimits | undefined): Promise<void> {
    const args: Record<string, string | number | null> = { provider, model, now: now() };
    for (const d of DIMS) args[d] = limits?.[CONFIG_FIELD[d]] ?? null;
    await client.execute({
      sql: `INSERT INTO router_quota (provider, model, updated_at, ${
        DIMS.map((d) => `${d}_limit, ${d}_avail, ${d}_cfg`).join(", ")
      })
        VALUES (:provider, :model, :now, ${DIMS.map((d) => `:${d}, :${d}, :${d}`).join(", ")})
        ON CONFLICT (provider, model) DO UPDATE SET
        ${
        DIMS.map((d) => {
          const limit = `CASE WHEN excluded.${d}_cfg IS NOT NULL THEN excluded.${d}_cfg ` +
            `WHEN ${d}_limit >= ${d}_cfg THEN NULL ELSE ${d}_limit END`;
          return `${d}_limit = ${limit}, ` +
            `${d}_avail = CASE WHEN (${limit}) IS NULL THEN NULL WHEN excluded.${d}_cfg IS NULL THEN ${d}_avail ` +
            `ELSE min(coalesce(${d}_avail, excluded.${d}_cfg), excluded.${d}_cfg) END, ` +
            `${d}_cfg = excluded.${d}_cfg`;
        }).join(",\n")
      }`,
      args,
    });
    known.add(keyOf(provider, model));
  }

  async function read(provider: string, model: string): Promise<Row | undefined> {
    const rs = await client.execute({
      sql: "SELECT * FROM router_quota WHERE provider = ? AND model = ? LIMIT 1",
      args: [provider, model],
    });
    const r = rs.rows[0];
    return r ? toRow(r as unknown as Record<string, unknown>) : undefined;
  }

  return {
    ensure: configure,

    async canUse(provider, model, tokens) {
      const row = await read(provider, model);
      return row ? quotaVerdict(row, tokens, now()) : { ok: true };
    },

    async take(provider, model, tokens) {
      const key = keyOf(provider, model);
      if (!known.has(key)) {
        // A model this process did not configure: its row as it is, or one without limits.
        await client.execute({
          sql: "INSERT INTO router_quota (provider, model, updated_at) VALUES (?, ?, ?) ON CONFLICT (provider, model) DO NOTHING",
          args: [provider, model, now()],
        });
        known.add(key);
      }
      const t = now();
      if (unlimited.has(key)) {
        const row = await read(provider, model);
        // Stamped before the clock stepped back: the write below moves its block back by the step.
        if (row && isUnlimited(row) && row.updated_at <= t + STEPPED_MS) return quotaVerdict(row, tokens, t);
        unlimited.delete(key); // another process learned a limit
      }
      const rs = await client.execute({ sql: TAKE_SQL, args: { provider, model, now: t, tokens } });
      if (rs.rows.length > 0) {
        if (Number(rs.rows[0]?.["unlimited"]) === 1) unlimited.add(key);
        return { ok: true };
      }
      let row = await read(provider, model);
      if (row && row.updated_at > t + STEPPED_MS) {
        // Refused because nothing refills before the stamp, or blocked since before the step: refill from now on, and
        // the block lasts what was left of it (what a later take then finds).
        await client.execute({
          sql: `UPDATE router_quota SET updated_at = :now, blocked_until = ${BLOCKED}
            WHERE provider = :provider AND model = :model AND updated_at > :now + ${STEPPED_MS}`,
          args: { provider, model, now: t },
        });
        row = { ...row, updated_at: t, blocked_until: row.blocked_until - (row.updated_at - t) };
      }
      const verdict = row ? quotaVerdict(row, tokens, t) : { ok: true as const };
      // Taken by someone else between the UPDATE and the SELECT: report a short wait rather than "ok".
      return verdict.ok ? { ok: false, reason: "blocked", retryAt: t + 1 } : verdict;
    },

    async settle(provider, model, s) {
      const reports = (s.rateLimit?.windows ?? []).some((w) => dimOf(w) !== undefined);
      if (unlimited.has(keyOf(provider, model)) && !reports && !s.blockForMs) return;
      const t = now();
      const args: Record<string, string | number | null> = {
        provider,
        model,
        now: t,
        blocked_until: s.blockForMs ? t + s.blockForMs : 0,
        taken: s.takenTokens,
        used: s.usedTokens,
      };
      const reported = new Map<QuotaDim, RateLimitInfo["windows"][number]>();
      for (const w of s.rateLimit?.windows ?? []) {
        const d = dimOf(w);
        if (d) reported.set(d, w);
      }
      let blockedUntil = Number(args["blocked_until"]);
      for (const d of DIMS) {
        const w = reported.get(d);
        args[`${d}_hlim`] = w?.limit ?? null;
        args[`${d}_hrem`] = w?.remaining ?? null;
        args[`${d}_hfull`] = null;
        // An emptied window refills continuously and is full again at its reset: its bucket is full no sooner. Without
        // its limit the provider's rate is unknown: nothing passes before the reset.
        if (w?.remaining !== 0 || w.resetAt === undefined) continue;
        if (w.limit !== undefined) args[`${d}_hfull`] = w.resetAt - t;
        else blockedUntil = Math.max(blockedUntil, w.resetAt);
      }
      args["blocked_until"] = blockedUntil;
      await client.execute({ sql: SETTLE_SQL, args });
    },
  };
}

export interface Headroom {
  provider: string;
  model: string;
  window: QuotaDim;
  /** Share of the window's limit available now (refilled to `now`), 0 to 1; 0 while the model is blocked. */
  ratio: number;
}

/** Quota headroom of every limited provider, model and window: the `aideazz_quota_headroom_ratio` gauge. */
export async function readHeadroom(client: Client, now: number): Promise<Headroom[]> {
  const rs = await client.execute({
    sql: `SELECT provider, model, ${BLOCKED} AS blocked_until, ${
      DIMS.map((d) => `${d}_limit, ${refill(d)} AS ${d}_now`).join(", ")
    } FROM router_quota`,
    args: { now },
  });
  return rs.rows.flatMap((r) => {
    // A retry-after, a spend limit or an empty window reported without its limit blocks the model (take refuses it
    // whatever its buckets hold): nothing can be sent now, so every window reads empty.
    const blocked = Number(r["blocked_until"]) > now;
    return DIMS.flatMap((d) => {
      const limit = r[`${d}_limit`];
      if (limit === null || limit === undefined || Number(limit) <= 0) return [];
      const ratio = blocked ? 0 : Math.max(0, Math.min(1, Number(r[`${d}_now`]) / Number(limit)));
      return [{ provider: String(r["provider"]), model: String(r["model"]), window: d, ratio }];
    });
  });
}
