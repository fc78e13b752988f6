/**
 * Measures the router matcher on a labelled dataset, side by side with a plain TF-IDF nearest neighbour.
 *
 *   node_modules/.bin/deno run -A scripts/eval-matcher.ts [--dataset FILE.csv|FILE.jsonl] [--holdout 0.2]
 *     [--seed 1] [--unseen 0] [--per-group N] [--singleton] [--max-false 0.02]
 *   node_modules/.bin/deno run -A --v8-flags=--expose-gc scripts/eval-matcher.ts --bench
 *
 * Default dataset: ../shared/data/banking77/train.csv. `--unseen 0.15` stores no entry of 15% of the groups
 * (open set); `--per-group 5` stores at most 5 paraphrases per group (FAQ-like); `--singleton` stores each
 * entry as its own answer group (a cache that cannot tell which answers are equivalent), a hit still being
 * correct when the entry's dataset group is the query's. Each run also reports the matcher with the FAQ's subject
 * check (src/router/faq.ts). `--bench` instead times `best()` over 10k and 50k
 * stored entries (heap growth is printed when `gc` is exposed).
 *
 * @module
 */
import { createMatcher, swappedSubject } from "../src/router/matcher.ts";
import { tokenize } from "../src/router/normalize.ts";
import {
  bestUnderFalseRate,
  type LabeledText,
  parseDataset,
  type Scorer,
  seededRandom,
  splitStratified,
  type Sweep,
  sweepThresholds,
  thresholdGrid,
} from "../src/router/eval.ts";

/** The comparison point from the issue: word TF-IDF (raw tf, smooth idf, L2), cosine of the single nearest
 * stored entry as the score. No stemming, no guard, no groups. */
function createTfidfBaseline(): Scorer {
  const docs: { group: string; v: Map<string, number> }[] = [];
  const df = new Map<string, number>();
  const words = (s: string) => s.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w !== "");
  const tf = (s: string) => {
    const m = new Map<string, number>();
    for (const w of words(s)) m.set(w, (m.get(w) ?? 0) + 1);
    return m;
  };
  let index: Map<string, { doc: number; w: number }[]> | undefined;
  const weigh = (t: Map<string, number>) => {
    const v = new Map<string, number>();
    let norm = 0;
    for (const [w, c] of t) {
      const x = c * (Math.log((docs.length + 1) / ((df.get(w) ?? 0) + 1)) + 1);
      v.set(w, x);
      norm += x * x;
    }
    for (const [w, x] of v) v.set(w, x / Math.sqrt(norm || 1));
    return v;
  };
  return {
    add(_id, text, group = _id) {
      const t = tf(text);
      for (const w of t.keys()) df.set(w, (df.get(w) ?? 0) + 1);
      docs.push({ group, v: t });
      index = undefined;
    },
    best(text) {
      if (!index) {
        index = new Map();
        docs.forEach((d, i) => {
          d.v = weigh(d.v);
          for (const [w, x] of d.v) index!.set(w, [...(index!.get(w) ?? []), { doc: i, w: x }]);
        });
      }
      const scores = new Float64Array(docs.length);
      for (const [w, x] of weigh(tf(text))) for (const p of index.get(w) ?? []) scores[p.doc]! += x * p.w;
      let top = -1;
      for (let i = 0; i < scores.length; i++) if (top < 0 || scores[i]! > scores[top]!) top = i;
      return top < 0 ? null : { group: docs[top]!.group, score: scores[top]! };
    },
  };
}

/** The FAQ's rule on top of the matcher (src/router/faq.ts): no hit when the query swaps a word of the question it
 * matched for one its group never uses (the dataset has no answers: the group's questions only). */
function withSubjectCheck(): Scorer {
  const inner = createMatcher();
  const texts = new Map<string, string>();
  const known = new Map<string, Set<string>>();
  return {
    add(id, text, group = id) {
      texts.set(id, text);
      known.set(group, new Set([...known.get(group) ?? [], ...tokenize(text)]));
      inner.add(id, text, group);
    },
    best(text) {
      const c = inner.best(text);
      if (!c || c.exact || c.refused !== undefined) return c;
      return swappedSubject(text, texts.get(c.id)!, known.get(c.group)!) === null ? c : null;
    },
  };
}

/** Stores every entry as its own group, and reports the dataset group of the entry it returns. */
function asSingletons(make: () => Scorer): () => Scorer {
  return () => {
    const inner = make();
    const label = new Map<string, string>();
    return {
      add(id, text, group = id) {
        label.set(id, group);
        inner.add(id, text);
      },
      best(text) {
        const c = inner.best(text);
        return c && { ...c, group: label.get(c.id ?? c.group) ?? c.group };
      },
    };
  };
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

const pct = (x: number) => (x * 100).toFixed(1).padStart(5);

function report(name: string, sweep: Sweep, maxFalse: number, show: readonly number[]): void {
  console.log(
    `\n${name}: ${sweep.entries} stored, ${sweep.queries} queries, ${sweep.msPerQuery.toFixed(2)} ms/query`,
  );
  console.log("threshold | hit % | correct % | false % | precision %");
  for (const r of sweep.rows) {
    if (!show.some((t) => Math.abs(t - r.threshold) < 1e-9)) continue;
    console.log(
      `${r.threshold.toFixed(3).padStart(9)} | ${pct(r.hitRate)} | ${pct(r.correctRate).padStart(9)} | ${
        pct(r.falseRate).padStart(7)
      } | ${pct(r.precision).padStart(11)}`,
    );
  }
  const b = bestUnderFalseRate(sweep.rows, maxFalse);
  console.log(
    b
      ? `best at false-hit ≤ ${pct(maxFalse).trim()}%: threshold ${b.threshold.toFixed(3)} → correct-hit ${
        pct(b.correctRate).trim()
      }%, hit ${pct(b.hitRate).trim()}%, false-hit ${pct(b.falseRate).trim()}%`
      : `no threshold keeps false hits ≤ ${pct(maxFalse).trim()}%`,
  );
}

/** Times `best()` with `n` stored entries: the stored side of a seeded split, then copies of it with two words
 * swapped for random dataset words (distinct entries, realistic length and vocabulary), queried with the
 * held-out side, which is never stored verbatim. */
function bench(rows: readonly LabeledText[], n: number, singletonGroups: boolean): string {
  const random = seededRandom(7);
  const { stored, queries } = splitStratified(rows, { seed: 1 });
  const vocab = [...new Set(rows.flatMap((r) => r.text.split(" ")))];
  const gc = (globalThis as { gc?: () => void }).gc; // present with --v8-flags=--expose-gc
  gc?.();
  const heap0 = Deno.memoryUsage().heapUsed;
  const m = createMatcher();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = stored[i % stored.length]!;
    let text = r.text;
    if (i >= stored.length) {
      const ws = text.split(" ");
      for (let k = 0; k < 2; k++) {
        ws[Math.floor(random() * ws.length)] = vocab[Math.floor(random() * vocab.length)]!;
      }
      text = ws.join(" ");
    }
    m.add(`e${i}`, text, singletonGroups ? `e${i}` : r.group);
  }
  const buildMs = performance.now() - t0;
  gc?.();
  const heap = gc
    ? `heap +${((Deno.memoryUsage().heapUsed - heap0) / 2 ** 20).toFixed(0)} MB`
    : "heap: add --v8-flags=--expose-gc";
  for (const q of queries.slice(0, 200)) m.best(q.text); // warm-up: let the JIT compile the lookup path
  const times = queries.map((q) => {
    const t = performance.now();
    m.best(q.text);
    return performance.now() - t;
  }).sort((a, b) => a - b);
  const at = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(2);
  return `${String(n).padStart(6)} entries, ${
    singletonGroups ? "one group per entry" : "dataset groups     "
  } | build ${(buildMs / 1000).toFixed(1)} s, ${heap} | best() over ${times.length} queries: p50 ${
    at(0.5)
  } ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms`;
}

const args = Deno.args;
const file = flag(args, "dataset") ??
  new URL("../../shared/data/banking77/train.csv", import.meta.url).pathname;
const rows = parseDataset(await Deno.readTextFile(file), file.endsWith(".jsonl") ? "jsonl" : "csv");
if (args.includes("--bench")) {
  for (const n of [10_000, 50_000]) for (const single of [false, true]) console.log(bench(rows, n, single));
} else {
  const holdout = Number(flag(args, "holdout") ?? 0.2);
  const seed = Number(flag(args, "seed") ?? 1);
  const unseenGroups = Number(flag(args, "unseen") ?? 0);
  const perGroup = Number(flag(args, "per-group") ?? Infinity);
  const maxFalse = Number(flag(args, "max-false") ?? 0.02);
  const { stored, queries } = splitStratified(rows, { holdout, seed, unseenGroups, perGroup });
  console.log(
    `${file}: ${rows.length} rows, ${new Set(rows.map((r) => r.group)).size} groups; holdout ${holdout}, ` +
      `seed ${seed}, unseen groups ${unseenGroups}, per group ${perGroup}` +
      (args.includes("--singleton") ? ", every entry its own group" : ""),
  );
  const grid = thresholdGrid(0, 1, 1001);
  const shape = args.includes("--singleton") ? asSingletons : (make: () => Scorer) => make;
  const show = [0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9];
  report(
    "plain TF-IDF nearest neighbour (baseline)",
    sweepThresholds(stored, queries, shape(createTfidfBaseline), grid),
    maxFalse,
    show,
  );
  report(
    "matcher, guard on (default)",
    sweepThresholds(stored, queries, shape(() => createMatcher()), grid),
    maxFalse,
    show,
  );
  report(
    "matcher, guard on, the FAQ's subject check",
    sweepThresholds(stored, queries, shape(withSubjectCheck), grid),
    maxFalse,
    show,
  );
  report(
    "matcher, guard off",
    sweepThresholds(stored, queries, shape(() => createMatcher({ guard: false })), grid),
    maxFalse,
    show,
  );
}
