/**
 * SQL of the stored metrics (tables created by migration 30 in src/store/migrations.ts):
 *
 * - `metric_families (name, type, help, bounds)`: one row per metric; `bounds` is the JSON array of a histogram's
 *   finite bucket bounds, needed to compute percentiles from stored buckets.
 * - `metric_series (id, agent, name, labels, last_at)`: one row per agent × metric × label set; `labels` is
 *   canonical JSON. `last_at` is refreshed hourly by the live writer, so retention can drop dead series.
 * - `metric_samples (res, start, series, value, vsum, n, vmin, vmax, b0 … b20)`, WITHOUT ROWID with primary key
 *   (res, start, series): time-range reads and retention deletes are range scans of the primary key. `value` is
 *   the increase (counter), the last value (gauge) or the observation count (histogram); gauges add sum, count,
 *   min and max of their samples; histograms add the sum and one column per bucket (portable SQL, and an UPSERT
 *   adds them column by column).
 *
 * Rows are written with multi-row UPSERTs (one statement per tier and shape, up to `ROWS_PER_STATEMENT` rows):
 * `@libsql/client` prepares every statement again, so fewer statements is most of the cost of a flush.
 *
 * @module
 */
import type { InStatement } from "../store/mod.ts";
import { MAX_BUCKETS } from "./types.ts";

export const ROWS_PER_STATEMENT = 400;

type InValue = string | number | null;

/** Bucket columns b0 … b20 (the +Inf bucket of a histogram with k finite bounds is column bk). */
export const BUCKET_COLUMNS: readonly string[] = Array.from({ length: MAX_BUCKETS + 1 }, (_, i) => `b${i}`);

/** A series reference: a known id, or the subquery finding a series upserted earlier in the same batch. */
export type SeriesRef = { id: number } | { agent: string; name: string; labels: string };

export interface SampleRow {
  series: SeriesRef;
  value: number;
  /** Gauge: the sample; histogram: sum of observations. */
  vsum?: number;
  buckets?: readonly number[];
}

function seriesSql(ref: SeriesRef, args: InValue[]): string {
  if ("id" in ref) {
    args.push(ref.id);
    return "?";
  }
  args.push(ref.agent, ref.name, ref.labels);
  return "(SELECT id FROM metric_series WHERE agent = ? AND name = ? AND labels = ?)";
}

function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) out.push(rows.slice(i, i + ROWS_PER_STATEMENT));
  return out;
}

/** UPSERTs adding counter increases into one resolution's bucket. */
export function counterUpserts(res: number, start: number, rows: readonly SampleRow[]): InStatement[] {
  return chunks(rows).map((part) => {
    const args: InValue[] = [];
    const values = part.map((r) => {
      args.push(res, start);
      const s = seriesSql(r.series, args);
      args.push(r.value);
      return `(?, ?, ${s}, ?)`;
    });
    return {
      sql: `INSERT INTO metric_samples (res, start, series, value) VALUES ${values.join(", ")}
ON CONFLICT (res, start, series) DO UPDATE SET value = value + excluded.value`,
      args,
    };
  });
}

/** UPSERTs setting gauges (last value) and accumulating their sum, count, min and max in one bucket. */
export function gaugeUpserts(res: number, start: number, rows: readonly SampleRow[]): InStatement[] {
  return chunks(rows).map((part) => {
    const args: InValue[] = [];
    const values = part.map((r) => {
      args.push(res, start);
      const s = seriesSql(r.series, args);
      args.push(r.value, r.value, r.value, r.value);
      return `(?, ?, ${s}, ?, ?, 1, ?, ?)`;
    });
    return {
      sql: `INSERT INTO metric_samples (res, start, series, value, vsum, n, vmin, vmax) VALUES ${
        values.join(", ")
      }
ON CONFLICT (res, start, series) DO UPDATE SET value = excluded.value, vsum = vsum + excluded.vsum, n = n + 1,
  vmin = min(vmin, excluded.vmin), vmax = max(vmax, excluded.vmax)`,
      args,
    };
  });
}

/** UPSERTs adding histogram counts, sums and bucket counts (all rows have `width` buckets) into one bucket. */
export function histogramUpserts(
  res: number,
  start: number,
  width: number,
  rows: readonly SampleRow[],
): InStatement[] {
  const cols = BUCKET_COLUMNS.slice(0, width);
  return chunks(rows).map((part) => {
    const args: InValue[] = [];
    const values = part.map((r) => {
      args.push(res, start);
      const s = seriesSql(r.series, args);
      args.push(r.value, r.vsum ?? 0, ...cols.map((_, i) => r.buckets?.[i] ?? 0));
      return `(?, ?, ${s}, ?, ?${", ?".repeat(width)})`;
    });
    return {
      sql: `INSERT INTO metric_samples (res, start, series, value, vsum, ${cols.join(", ")}) VALUES ${
        values.join(", ")
      }
ON CONFLICT (res, start, series) DO UPDATE SET value = value + excluded.value, vsum = vsum + excluded.vsum,
  ${cols.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")}`,
      args,
    };
  });
}

export interface NewSeries {
  agent: string;
  name: string;
  labels: string;
}

/** Creates series (or refreshes their `last_at`) and returns their ids. */
export function seriesUpserts(rows: readonly NewSeries[], at: number): InStatement[] {
  return chunks(rows).map((part) => {
    const args: InValue[] = [];
    for (const r of part) args.push(r.agent, r.name, r.labels, at);
    return {
      sql: `INSERT INTO metric_series (agent, name, labels, last_at) VALUES ${
        part.map(() => "(?, ?, ?, ?)").join(", ")
      }
ON CONFLICT (agent, name, labels) DO UPDATE SET last_at = excluded.last_at RETURNING id, name, labels`,
      args,
    };
  });
}

/** Marks live series as seen (hourly), so retention keeps them. */
export function touchSeries(ids: readonly number[], at: number): InStatement[] {
  return chunks(ids).map((part) => ({
    sql: `UPDATE metric_series SET last_at = ? WHERE id IN (${part.map(() => "?").join(", ")})`,
    args: [at, ...part],
  }));
}

export interface FamilyRow {
  name: string;
  type: string;
  help: string;
  bounds: readonly number[] | undefined;
}

export function familyUpserts(rows: readonly FamilyRow[]): InStatement[] {
  return chunks(rows).map((part) => ({
    sql: `INSERT INTO metric_families (name, type, help, bounds) VALUES ${
      part.map(() => "(?, ?, ?, ?)").join(", ")
    }
ON CONFLICT (name) DO UPDATE SET type = excluded.type, help = excluded.help, bounds = excluded.bounds`,
    args: part.flatMap((f) => [f.name, f.type, f.help, f.bounds ? JSON.stringify(f.bounds) : null]),
  }));
}

/** Retention: drops samples older than each resolution's horizon, and series unseen for longer than the last. */
export function purgeStatements(horizons: ReadonlyMap<number, number>, seriesBefore: number): InStatement[] {
  return [
    ...[...horizons].map(([res, before]) => ({
      sql: "DELETE FROM metric_samples WHERE res = ? AND start < ?",
      args: [res, before],
    })),
    { sql: "DELETE FROM metric_series WHERE last_at < ?", args: [seriesBefore] },
  ];
}
