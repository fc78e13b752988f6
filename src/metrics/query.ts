/**
 * Reading stored metrics back for `aideazz stats` and the dashboard: every series of one resolution in a time
 * window, with its family's type, help text and bucket bounds.
 *
 * @module
 */
import type { Client } from "../store/mod.ts";
import { BUCKET_COLUMNS } from "./store-sql.ts";
import { bucketStart } from "./tiers.ts";
import type { Labels, MetricType } from "./types.ts";

export interface StoredPoint {
  /** Bucket start, epoch ms (of a slot's points: the first one's). */
  start: number;
  /** Counter: increase in the bucket; gauge: last value; histogram: observations. */
  value: number;
  /** Gauge: sum of samples; histogram: sum of observations. */
  vsum: number | null;
  /** Gauge: number of samples. */
  n: number | null;
  vmin: number | null;
  vmax: number | null;
  /** Histogram: count per bucket (not cumulative), one more than the bounds. */
  buckets: number[] | null;
}

export interface StoredSeries {
  agent: string;
  name: string;
  type: MetricType;
  help: string;
  labels: Labels;
  bounds: number[];
  points: StoredPoint[];
}

export interface ReadOptions {
  /** Window [from, to) in epoch ms; a bucket is included when it starts in the window. */
  from: number;
  to: number;
  /** Resolution in ms (see tiers.ts). */
  res: number;
  /**
   * Adds up each series' buckets per slot of `slotMs` from `from` (a chart's grid: a multiple of `res`), so a day
   * of minute rows comes back as one point per slot and series, not one per bucket. Default `res`: every bucket.
   */
  slotMs?: number;
  names?: readonly string[];
  agent?: string;
}

/** True when the metrics tables exist (the store was migrated by an aideazz that has them). */
export async function hasMetricsTables(client: Client): Promise<boolean> {
  const rs = await client.execute(
    "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'metric_samples'",
  );
  return Number(rs.rows[0]?.["n"] ?? 0) > 0;
}

const SUMS = ["value", "vsum", "n", ...BUCKET_COLUMNS].map((c) => `sum(${c}) AS ${c}`).join(", ");

/**
 * Every series with points in the window, points in time order: one per slot (see `slotMs`), and one more for the
 * window's last bucket, kept apart because it is still filling when the window ends now (rates leave it out: see
 * `rateSlots`). Summed in SQL: a day of ~120 series read row by row took seconds and hundreds of MB per page.
 */
export async function readSeries(client: Client, opts: ReadOptions): Promise<StoredSeries[]> {
  const slotMs = opts.slotMs ?? opts.res;
  const last = bucketStart(opts.to - 1, opts.res);
  const where: string[] = [];
  const whereArgs: string[] = [];
  if (opts.names && opts.names.length > 0) {
    where.push(`name IN (${opts.names.map(() => "?").join(", ")})`);
    whereArgs.push(...opts.names);
  }
  if (opts.agent !== undefined) {
    where.push("agent = ?");
    whereArgs.push(opts.agent);
  }
  const filter = where.length > 0
    ? ` AND series IN (SELECT id FROM metric_series WHERE ${where.join(" AND ")})`
    : "";
  // A gauge's value is its last sample: the row of the slot's latest bucket (`at`), found by its primary key.
  // CAST: a libSQL server gets JS numbers as REAL, whose division keeps the fraction; the slot is its whole part.
  const rs = await client.execute({
    sql: `WITH slot AS (
            SELECT series, min(start) AS start, max(start) AS at, ${SUMS}, min(vmin) AS vmin, max(vmax) AS vmax
            FROM metric_samples
            WHERE res = ? AND start >= ? AND start < ?${filter}
            GROUP BY series, CAST((start - ?) / ? AS INTEGER), start >= ?
          )
          SELECT slot.*, s.agent, s.name, s.labels, f.type, f.help, f.bounds, g.value AS last
          FROM slot JOIN metric_series s ON s.id = slot.series LEFT JOIN metric_families f ON f.name = s.name
            LEFT JOIN metric_samples g
              ON f.type = 'gauge' AND g.res = ? AND g.start = slot.at AND g.series = slot.series
          ORDER BY slot.series, slot.start`,
    args: [opts.res, opts.from, opts.to, ...whereArgs, opts.from, slotMs, last, opts.res],
  });
  const out = new Map<number, StoredSeries>();
  for (const r of rs.rows) {
    const id = Number(r["series"]);
    let s = out.get(id);
    if (!s) {
      s = {
        agent: String(r["agent"]),
        name: String(r["name"]),
        type: (r["type"] === null ? "counter" : String(r["type"])) as MetricType,
        help: r["help"] === null ? String(r["name"]) : String(r["help"]),
        labels: JSON.parse(String(r["labels"])) as Labels,
        bounds: r["bounds"] === null ? [] : (JSON.parse(String(r["bounds"])) as number[]),
        points: [],
      };
      out.set(id, s);
    }
    const num = (k: string) => (r[k] === null || r[k] === undefined ? null : Number(r[k]));
    s.points.push({
      start: Number(r["start"]),
      value: Number(s.type === "gauge" ? r["last"] : r["value"]),
      vsum: num("vsum"),
      n: num("n"),
      vmin: num("vmin"),
      vmax: num("vmax"),
      buckets: s.type === "histogram"
        ? BUCKET_COLUMNS.slice(0, s.bounds.length + 1).map((c) => num(c) ?? 0)
        : null,
    });
  }
  return [...out.values()];
}
