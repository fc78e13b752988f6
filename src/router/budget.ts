/**
 * The spend budget for priced models (Claude): cost = reported usage × the configured price table. Before a call
 * its maximum cost (estimated input + `maxTokens` output) is RESERVED in the store by one conditional UPSERT, so
 * concurrent calls, in one process or several, can never together pass the daily or monthly cap; after the call
 * the reservation is settled with the real cost. Amounts are integer micro-dollars (no float drift).
 *
 * The budget is a routing signal, not a failure: a reservation that does not fit makes the chain skip the priced
 * provider (Claude → Groq → local → cache-only). Below `lowFraction` of a cap, only high-value turns may still use
 * priced models. Models without a price cost $0 and never touch the budget, so local calls are never blocked.
 *
 * Days and months are UTC. A process killed between reserve and settle leaves its reservation counted as spent
 * (the call may have been billed): conservative, and it expires with its day.
 *
 * @module
 */
import type { Client } from "../store/mod.ts";
import type { BudgetConfig, Price, Tier } from "./config.ts";
import type { Usage } from "./providers/types.ts";

const MICROS_PER_USD = 1_000_000;
const NO_CAP = Number.MAX_SAFE_INTEGER;

export interface Reservation {
  readonly model: string;
  readonly day: string;
  readonly micros: number;
  /** A free model: nothing was written and settling writes nothing. */
  readonly free: boolean;
}

export interface BudgetStatus {
  day: string;
  month: string;
  daySpentUsd: number;
  /** Reserved today for calls in flight (or lost by a killed process). */
  dayReservedUsd: number;
  /** Spent and reserved this month: what the monthly cap is checked against. */
  monthUsedUsd: number;
  dailyUsd: number | undefined;
  monthlyUsd: number | undefined;
}

export interface Budget {
  priceOf(model: string): Price | undefined;
  /** Cost in US dollars of a usage on a model (0 for an unpriced one). */
  costUsd(model: string, usage: Usage): number;
  /**
   * Reserves the maximum cost of a call; undefined when it does not fit the caps (for a non-high-value turn,
   * the caps less `lowFraction`). Free models always get a (free) reservation, and so does a call marked `free` (a
   * local model, whatever its name: prices are keyed by model name, and it may be named like the paid model it stands
   * in for).
   */
  reserve(
    model: string,
    est: { inputTokens: number; maxOutputTokens: number },
    tier: Tier,
    free?: boolean,
  ): Promise<Reservation | undefined>;
  /** Replaces the reservation by the real cost: a usage, `"reserved"` (charge it all: a timeout may have been billed) or `"none"`. */
  settle(r: Reservation, actual: Usage | "reserved" | "none"): Promise<number>;
  status(): Promise<BudgetStatus>;
}

export function toMicros(price: Price, usage: Usage): number {
  // USD per million tokens = micro-dollars per token.
  return Math.ceil(usage.inputTokens * price.inputUsdPerMTok + usage.outputTokens * price.outputUsdPerMTok);
}

/** "2025-03-07" and "2025-03" of an epoch ms, in UTC. */
export function periodsOf(now: number): { day: string; month: string } {
  const day = new Date(now).toISOString().slice(0, 10);
  return { day, month: day.slice(0, 7) };
}

const RESERVE_SQL = `INSERT INTO router_budget_days (day, month, spent_micros, reserved_micros)
SELECT :day, :month, 0, :amount
WHERE coalesce((SELECT spent_micros + reserved_micros FROM router_budget_days WHERE day = :day), 0) + :amount <= :day_cap
  AND coalesce((SELECT sum(spent_micros + reserved_micros) FROM router_budget_days WHERE month = :month), 0) + :amount
    <= :month_cap
ON CONFLICT (day) DO UPDATE SET reserved_micros = reserved_micros + excluded.reserved_micros
RETURNING day`;

const SETTLE_SQL = `UPDATE router_budget_days
SET reserved_micros = max(0, reserved_micros - :reserved), spent_micros = spent_micros + :actual
WHERE day = :day`;

export interface BudgetOptions {
  client: Client;
  config: BudgetConfig;
  now: () => number;
}

export function createBudget({ client, config, now }: BudgetOptions): Budget {
  const priceOf = (model: string): Price | undefined => {
    const p = config.prices[model];
    return p && (p.inputUsdPerMTok > 0 || p.outputUsdPerMTok > 0) ? p : undefined;
  };
  const cap = (usd: number | undefined, fraction: number) =>
    usd === undefined ? NO_CAP : Math.floor(usd * MICROS_PER_USD * fraction);

  return {
    priceOf,

    costUsd(model, usage) {
      const price = priceOf(model);
      return price ? toMicros(price, usage) / MICROS_PER_USD : 0;
    },

    async reserve(model, est, tier, free = false) {
      const price = free ? undefined : priceOf(model);
      const { day, month } = periodsOf(now());
      if (!price) return { model, day, micros: 0, free: true };
      const micros = toMicros(price, { inputTokens: est.inputTokens, outputTokens: est.maxOutputTokens });
      const fraction = tier === "high-value" ? 1 : 1 - config.lowFraction;
      const rs = await client.execute({
        sql: RESERVE_SQL,
        args: {
          day,
          month,
          amount: micros,
          day_cap: cap(config.dailyUsd, fraction),
          month_cap: cap(config.monthlyUsd, fraction),
        },
      });
      return rs.rows.length > 0 ? { model, day, micros, free: false } : undefined;
    },

    async settle(r, actual) {
      if (r.free) return 0;
      const price = priceOf(r.model);
      const micros = actual === "reserved"
        ? r.micros
        : actual === "none" || !price
        ? 0
        : toMicros(price, actual);
      await client.execute({ sql: SETTLE_SQL, args: { day: r.day, reserved: r.micros, actual: micros } });
      return micros / MICROS_PER_USD;
    },

    async status() {
      const { day, month } = periodsOf(now());
      const rs = await client.execute({
        sql: `SELECT
          coalesce(sum(CASE WHEN day = :day THEN spent_micros END), 0) AS day_spent,
          coalesce(sum(CASE WHEN day = :day THEN reserved_micros END), 0) AS day_reserved,
          coalesce(sum(spent_micros + reserved_micros), 0) AS month_total
          FROM router_budget_days WHERE month = :month LIMIT 1`,
        args: { day, month },
      });
      const row = rs.rows[0];
      return {
        day,
        month,
        daySpentUsd: Number(row?.["day_spent"] ?? 0) / MICROS_PER_USD,
        dayReservedUsd: Number(row?.["day_reserved"] ?? 0) / MICROS_PER_USD,
        monthUsedUsd: Number(row?.["month_total"] ?? 0) / MICROS_PER_USD,
        dailyUsd: config.dailyUsd,
        monthlyUsd: config.monthlyUsd,
      };
    },
  };
}
