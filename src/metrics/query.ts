/**
 * Reading stored metrics back for `aideazz stats` and the dashboard: every series of one resolution in a time
 * window, with its family's type, help text and bucket bounds.
 *
 * @module
 */
import type { Client } from "../store/mod.ts";
import { BUCKET_COLUMNS } from "./store-sql.ts";
import type { Labels, MetricType } from "./types.ts";

export interface StoredPoint {
  /** Bucket start, epoch ms. */
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

/** Every series with points in the window, points in time order. */
export async function readSeries(client: Client, opts: ReadOptions): Promise<StoredSeries[]> {
  const args: (string | number)[] = [opts.res, opts.from, opts.to];
  let filter = "";
  if (opts.names && opts.names.length > 0) {
    filter += ` AND s.name IN (${opts.names.map(() => "?").join(", ")})`;
    args.push(...opts.names);
  }
  if (opts.agent !== undefined) {
    filter += " AND s.agent = ?";
    args.push(opts.agent);
  }
  const rs = await client.execute({
    sql:
      `SELECT m.series, s.agent, s.name, s.labels, f.type, f.help, f.bounds, m.start, m.value, m.vsum, m.n, m.vmin,
            m.vmax, ${BUCKET_COLUMNS.map((c) => `m.${c}`).join(", ")}
          FROM metric_samples m JOIN metric_series s ON s.id = m.series LEFT JOIN metric_families f ON f.name = s.name
          WHERE m.res = ? AND m.start >= ? AND m.start < ?${filter}
          ORDER BY m.series, m.start`,
    args,
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
      value: Number(r["value"]),
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
