/**
 * Offline evaluation of a matcher: store part of a labelled dataset, query with the rest, sweep thresholds.
 * Shared by scripts/eval-matcher.ts and the `aideazz cache eval --dataset FILE` command.
 *
 * Definitions (per threshold t, over Q held-out queries):
 * - hit: the matcher's best candidate is allowed by the guard and has score ≥ t;
 * - correct hit: a hit whose entry's group equals the query's group; false hit: a hit with another group;
 * - hit rate = hits / Q; correct-hit rate = correct hits / Q; false-hit rate = false hits / Q;
 * - precision = correct hits / hits (how often a served answer is right).
 * A query whose group was never stored can only produce a false hit or a miss.
 *
 * @module
 */

/** One labelled text: queries with the same `group` share one answer. */
export interface LabeledText {
  readonly text: string;
  readonly group: string;
}

/** What `sweepThresholds` needs from a matcher; `Matcher` from matcher.ts satisfies it. */
export interface Scorer {
  add(id: string, text: string, group?: string): void;
  best(
    text: string,
  ):
    | { readonly id?: string; readonly group: string; readonly score: number; readonly refused?: unknown }
    | null;
}

export interface SweepRow {
  readonly threshold: number;
  readonly hits: number;
  readonly correct: number;
  readonly wrong: number;
  readonly hitRate: number;
  readonly correctRate: number;
  readonly falseRate: number;
  readonly precision: number;
}

export interface Sweep {
  readonly queries: number;
  readonly entries: number;
  readonly rows: readonly SweepRow[];
  /** Mean `best()` time per query, in milliseconds (wall clock, includes guard and exact tier). */
  readonly msPerQuery: number;
}

/**
 * Stores `entries` in a fresh scorer, asks `best()` once per query and counts hits at every threshold.
 *
 * @example
 * const sweep = sweepThresholds(stored, heldOut, () => createMatcher(), [0.3, 0.5, 0.7]);
 * bestUnderFalseRate(sweep.rows, 0.02)?.correctRate;
 */
export function sweepThresholds(
  entries: readonly LabeledText[],
  queries: readonly LabeledText[],
  makeScorer: () => Scorer,
  thresholds: readonly number[],
): Sweep {
  const scorer = makeScorer();
  entries.forEach((e, i) => scorer.add(`e${i}`, e.text, e.group));
  const t0 = performance.now();
  const outcomes = queries.map((q) => {
    const c = scorer.best(q.text);
    return c && c.refused === undefined ? { score: c.score, ok: c.group === q.group } : null;
  });
  const msPerQuery = queries.length > 0 ? (performance.now() - t0) / queries.length : 0;
  const n = Math.max(1, queries.length);
  const rows = thresholds.map((threshold) => {
    let correct = 0;
    let wrong = 0;
    for (const o of outcomes) if (o && o.score >= threshold) o.ok ? correct++ : wrong++;
    const hits = correct + wrong;
    return {
      threshold,
      hits,
      correct,
      wrong,
      hitRate: hits / n,
      correctRate: correct / n,
      falseRate: wrong / n,
      precision: hits > 0 ? correct / hits : 1,
    };
  });
  return { queries: queries.length, entries: entries.length, rows, msPerQuery };
}

/** The row with the highest correct-hit rate among those with false-hit rate ≤ `maxFalseRate`. */
export function bestUnderFalseRate(rows: readonly SweepRow[], maxFalseRate: number): SweepRow | undefined {
  let best: SweepRow | undefined;
  for (const r of rows) {
    if (r.falseRate <= maxFalseRate && (!best || r.correctRate > best.correctRate)) best = r;
  }
  return best;
}

/** `count` thresholds evenly spaced over [from, to]. */
export function thresholdGrid(from = 0, to = 1, count = 201): number[] {
  return Array.from(
    { length: count },
    (_, i) => Math.round((from + ((to - from) * i) / (count - 1)) * 1e6) / 1e6,
  );
}

/** mulberry32: a tiny seeded PRNG, so a split is the same on every machine and run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SplitOptions {
  /** Fraction of each group held out as queries. Default 0.2. */
  readonly holdout?: number;
  readonly seed?: number;
  /** Fraction of groups stored not at all (open-set: their queries have no right answer). Default 0. */
  readonly unseenGroups?: number;
  /** Store at most this many entries per group (an FAQ has a few paraphrases per answer). Default: all. */
  readonly perGroup?: number;
}

/**
 * Seeded stratified split: within each group (groups in sorted order), a Fisher–Yates shuffle, then the first
 * `round(n × holdout)` items are queries and the rest are stored. At least one item per group stays stored.
 */
export function splitStratified(
  rows: readonly LabeledText[],
  opts: SplitOptions = {},
): { stored: LabeledText[]; queries: LabeledText[] } {
  const { holdout = 0.2, seed = 1, unseenGroups = 0, perGroup = Infinity } = opts;
  if (!(holdout > 0 && holdout < 1)) throw new RangeError(`holdout must be in (0, 1), got ${holdout}`);
  if (!(unseenGroups >= 0 && unseenGroups < 1)) throw new RangeError(`unseenGroups must be in [0, 1)`);
  const random = seededRandom(seed);
  const shuffle = <T>(a: T[]) => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };
  const byGroup = new Map<string, LabeledText[]>();
  for (const r of rows) {
    const items = byGroup.get(r.group);
    if (items) items.push(r);
    else byGroup.set(r.group, [r]);
  }
  const groups = [...byGroup.keys()].sort();
  const unseen = new Set(shuffle([...groups]).slice(0, Math.round(groups.length * unseenGroups)));
  const stored: LabeledText[] = [];
  const queries: LabeledText[] = [];
  for (const g of groups) {
    const items = shuffle(byGroup.get(g)!);
    const k = Math.min(Math.round(items.length * holdout), items.length - 1);
    queries.push(...items.slice(0, k));
    if (!unseen.has(g)) stored.push(...items.slice(k, k + perGroup));
  }
  return { stored, queries };
}

/**
 * Parses a dataset: JSON Lines of `{ "text": …, "group": … }` (or `"category"`), or CSV with a header row
 * holding `text` and `group`/`category` columns (RFC 4180 quoting). Throws naming the bad line.
 */
export function parseDataset(content: string, format: "jsonl" | "csv"): LabeledText[] {
  if (format === "jsonl") {
    return content.split("\n").flatMap((line, i) => {
      if (line.trim() === "") return [];
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (err) {
        throw new Error(`dataset line ${i + 1}: not JSON (${(err as Error).message.replace(/ \(line \d+ column \d+\)$/, "")})`);
      }
      const rec = (typeof o === "object" && o !== null ? o : {}) as Record<string, unknown>;
      const group = rec.group ?? rec.category;
      if (typeof rec.text !== "string" || typeof group !== "string") {
        throw new Error(`dataset line ${i + 1}: expected {"text": string, "group": string}`);
      }
      return [{ text: rec.text, group }];
    });
  }
  const table = parseCsv(content);
  const header = table[0] ?? [];
  const ti = header.indexOf("text");
  const gi = header.includes("group") ? header.indexOf("group") : header.indexOf("category");
  if (ti < 0 || gi < 0) {
    throw new Error(`dataset header must name "text" and "group" (or "category") columns`);
  }
  return table.slice(1).filter((r) => r.length > Math.max(ti, gi)).map((r) => ({
    text: r[ti]!,
    group: r[gi]!,
  }));
}

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') field += text[i++];
      else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n") {
      rows.push([...row, field]);
      row = [];
      field = "";
    } else if (c !== "\r") field += c;
  }
  if (field !== "" || row.length > 0) rows.push([...row, field]);
  return rows;
}
