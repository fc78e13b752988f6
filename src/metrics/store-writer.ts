/**
 * Turns the in-memory registry into store rows at each flush: the increase of every counter and histogram since
 * the last COMMITTED flush (so a failed write is carried by the next one), and the current value of every gauge,
 * added into the 10 s, 1 min and 1 h buckets holding the flush time. Once a minute it appends the retention
 * deletes to the same batch.
 *
 * @module
 */
import type { ResultSet } from "../store/mod.ts";
import type { FlushBatch, FlushSource } from "./flush-loop.ts";
import type { Metrics } from "./registry.ts";
import {
  counterUpserts,
  type FamilyRow,
  familyUpserts,
  gaugeUpserts,
  histogramUpserts,
  type NewSeries,
  purgeStatements,
  type SampleRow,
  seriesUpserts,
  touchSeries,
} from "./store-sql.ts";
import { bucketStart, HOUR, RESOLUTIONS, type Retention } from "./tiers.ts";
import type { SeriesSnapshot } from "./types.ts";

export interface MetricsWriterOptions {
  metrics: Metrics;
  /** The agent whose series these are. */
  agent: string;
  retention: Retention;
  /** How often the retention deletes ride along with a flush (default one minute). */
  purgeEveryMs?: number;
}

interface Committed {
  value: number;
  sum: number;
  buckets: readonly number[] | undefined;
}

const idOf = (name: string, key: string) => `${name}\u0000${key}`;

/** Increase since `before` (the whole value when the registry was reset). */
function delta(s: SeriesSnapshot, before: Committed | undefined): SampleRow | undefined {
  if (s.type === "gauge") return undefined;
  const reset = before !== undefined && s.value < before.value;
  const base = before === undefined || reset ? undefined : before;
  const value = s.value - (base?.value ?? 0);
  if (value === 0) return undefined;
  if (s.type === "counter") return { series: { id: 0 }, value };
  return {
    series: { id: 0 },
    value,
    vsum: (s.sum ?? 0) - (base?.sum ?? 0),
    buckets: (s.buckets ?? []).map((c, i) => c - (base?.buckets?.[i] ?? 0)),
  };
}

/** The flush source writing one agent's metrics. */
export function createMetricsWriter(opts: MetricsWriterOptions): FlushSource {
  const committed = new Map<string, Committed>();
  const ids = new Map<string, number>();
  const declared = new Set<string>();
  const purgeEvery = opts.purgeEveryMs ?? 60_000;
  let lastPurge = -Infinity;
  let lastTouch = -Infinity;

  return {
    collect(now): FlushBatch {
      const snap = opts.metrics.snapshot();
      const newSeries: NewSeries[] = [];
      const families: FamilyRow[] = [];
      const counters: SampleRow[] = [];
      const gauges: SampleRow[] = [];
      const histograms = new Map<number, SampleRow[]>();
      const next = new Map<string, Committed>();

      for (const s of snap) {
        // A gauge that is no number (0/0, ±Infinity) is not stored: the column refuses it, and with it the whole
        // write (every other metric, the trace events, the heartbeat). Prometheus still shows it.
        if (s.type === "gauge" && !Number.isFinite(s.value)) continue;
        const id = idOf(s.name, s.key);
        const row = s.type === "gauge" ? { series: { id: 0 }, value: s.value } : delta(s, committed.get(id));
        next.set(id, { value: s.value, sum: s.sum ?? 0, buckets: s.buckets });
        if (!row) continue;
        const known = ids.get(id);
        row.series = known !== undefined ? { id: known } : { agent: opts.agent, name: s.name, labels: s.key };
        if (known === undefined) newSeries.push({ agent: opts.agent, name: s.name, labels: s.key });
        if (!declared.has(s.name)) {
          declared.add(s.name); // undone in done() when the write fails
          const spec = opts.metrics.spec(s.name);
          families.push({
            name: s.name,
            type: s.type,
            help: spec?.help ?? s.name,
            bounds: s.type === "histogram" ? spec?.bounds ?? [] : undefined,
          });
        }
        if (s.type === "counter") counters.push(row);
        else if (s.type === "gauge") gauges.push(row);
        else {
          const width = s.buckets?.length ?? 0;
          const list = histograms.get(width);
          if (list) list.push(row);
          else histograms.set(width, [row]);
        }
      }

      const familyStatements = familyUpserts(families);
      const seriesStatements = seriesUpserts(newSeries, now);
      const statements = [...familyStatements, ...seriesStatements];
      for (const res of RESOLUTIONS) {
        const start = bucketStart(now, res);
        statements.push(...counterUpserts(res, start, counters), ...gaugeUpserts(res, start, gauges));
        for (const [width, rows] of histograms) statements.push(...histogramUpserts(res, start, width, rows));
      }
      const touch = now - lastTouch >= HOUR && ids.size > 0;
      if (touch) statements.push(...touchSeries([...ids.values()], now));
      const purge = now - lastPurge >= purgeEvery;
      if (purge) {
        const horizons = new Map([...opts.retention.byResolution].map(([res, keep]) => [res, now - keep]));
        const longest = Math.max(...opts.retention.byResolution.values());
        statements.push(...purgeStatements(horizons, now - longest - 2 * HOUR));
      }

      return {
        statements,
        done(ok: boolean, results: readonly ResultSet[]) {
          if (!ok) {
            for (const f of families) declared.delete(f.name);
            return;
          }
          const first = familyStatements.length;
          for (const rs of results.slice(first, first + seriesStatements.length)) {
            for (const r of rs.rows) ids.set(idOf(String(r["name"]), String(r["labels"])), Number(r["id"]));
          }
          for (const [id, c] of next) committed.set(id, c);
          // New series were written with last_at = now: the hourly refresh counts from here.
          if (touch || (newSeries.length > 0 && lastTouch === -Infinity)) lastTouch = now;
          if (purge) lastPurge = now;
        },
      };
    },
  };
}
