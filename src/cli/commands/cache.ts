import { createResponseCache } from "../../router/cache.ts";
import { createEmbedder, type Embedder } from "../../router/embeddings.ts";
import {
  bestUnderFalseRate,
  type LabeledText,
  parseDataset,
  type Scorer,
  splitStratified,
  type Sweep,
  sweepThresholds,
  thresholdGrid,
} from "../../router/eval.ts";
import { createMatcher } from "../../router/matcher.ts";
import { cacheSchema } from "../../agents/orchestrator/config.ts";
import { ConfigError } from "../../config.ts";
import { type CliDeps, defineCommand, UsageError } from "../command.ts";
import { envValue, hasTable, openReadStore, readConfig, stringOption } from "../context.ts";

/** Runs `run` on the reply cache of the configured store, or of `--db` (then with the default cache settings). */
async function withCache(values: Record<string, string | boolean | undefined>, deps: CliDeps, run: (cache: ReturnType<typeof createResponseCache>) => Promise<number>) {
  const { store, config } = await openReadStore(values, deps);
  try {
    if (!(await hasTable(store, "cache_entries", deps))) return 1;
    const c = config?.cache ?? cacheSchema.parse({});
    return await run(createResponseCache({
      client: store.client,
      now: deps.now,
      ttlMs: c.ttlMs,
      lexicalThreshold: c.lexicalThreshold,
      semanticThreshold: c.semanticThreshold,
    }));
  } finally {
    store.close();
  }
}

export const cacheStatsCommand = defineCommand({
  name: "cache stats",
  summary: "show the reply cache: entries, scopes, measured false-hit rate",
  options: { json: { type: "boolean" } },
  optionHelp: ["--json          print JSON"],
  run({ values, deps }) {
    return withCache(values, deps, async (cache) => {
      const s = await cache.stats();
      if (values["json"] === true) {
        deps.stdout(JSON.stringify(s) + "\n");
        return 0;
      }
      const rate = s.checks === 0 ? "no checks yet" : `${((100 * s.falseHits) / s.checks).toFixed(1)}% of ${s.checks} sampled hits`;
      deps.stdout(`entries   ${s.entries} (${s.expired} expired) in ${s.scopes} scope${s.scopes === 1 ? "" : "s"}\n`);
      deps.stdout(`false hits ${rate}\n`);
      for (const { scope, entries } of s.byScope) deps.stdout(`  ${String(entries).padStart(7)}  ${scope}\n`);
      return 0;
    });
  },
});

export const cacheClearCommand = defineCommand({
  name: "cache clear",
  summary: "delete cached answers (all, or one scope)",
  options: { scope: { type: "string" } },
  optionHelp: ["--scope SCOPE   only this scope (role/prompt-version/context, or its start: a role; see cache stats)"],
  run({ values, deps }) {
    return withCache(values, deps, async (cache) => {
      const scope = stringOption(values, "scope");
      const n = await cache.clear(scope);
      if (n === 0 && scope !== undefined) {
        const known = (await cache.stats()).byScope.map((s) => s.scope);
        deps.stderr(`cache clear: no scope "${scope}"; the cache has ${known.join(", ") || "none"}\n`);
        return 1;
      }
      deps.stdout(`cache clear: deleted ${n} entr${n === 1 ? "y" : "ies"}\n`);
      return 0;
    });
  },
});

/** A scorer over embeddings: cosine to the nearest stored entry (what the semantic tier does). */
async function embeddingScorer(embedder: Embedder, entries: readonly LabeledText[], queries: readonly LabeledText[]): Promise<() => Scorer> {
  const vectors = new Map<string, Float32Array>();
  for (const t of [...entries, ...queries]) if (!vectors.has(t.text)) vectors.set(t.text, await embedder.embed(t.text));
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
  return () => {
    const stored: { group: string; v: Float32Array; n: number }[] = [];
    return {
      add: (_id, text, group) => {
        const v = vectors.get(text)!;
        stored.push({ group: group ?? text, v, n: norm(v) });
      },
      best: (text) => {
        const q = vectors.get(text)!;
        const qn = norm(q);
        let best: { group: string; score: number } | null = null;
        for (const s of stored) {
          let dot = 0;
          for (let i = 0; i < q.length; i++) dot += q[i]! * s.v[i]!;
          const score = dot / (qn * s.n);
          if (!best || score > best.score) best = { group: s.group, score };
        }
        return best;
      },
    };
  };
}

function printSweep(deps: CliDeps, title: string, sweep: Sweep, maxFalse: number) {
  deps.stdout(`\n${title}: ${sweep.entries} stored, ${sweep.queries} queries, ${sweep.msPerQuery.toFixed(2)} ms/query\n`);
  deps.stdout("threshold  hit%   correct%  false%  precision\n");
  const shown = sweep.rows.filter((_, i) => i % 10 === 0);
  for (const r of shown) {
    deps.stdout(
      `${r.threshold.toFixed(2).padStart(9)}  ${(100 * r.hitRate).toFixed(1).padStart(5)}  ${(100 * r.correctRate).toFixed(1).padStart(8)}  ${
        (100 * r.falseRate).toFixed(1).padStart(6)
      }  ${(100 * r.precision).toFixed(1).padStart(8)}\n`,
    );
  }
  const best = bestUnderFalseRate(sweep.rows, maxFalse);
  deps.stdout(
    best
      ? `best at ≤ ${(100 * maxFalse).toFixed(1)}% false hits: threshold ${best.threshold.toFixed(3)} → ${(100 * best.correctRate).toFixed(1)}% correct hits (${(100 * best.falseRate).toFixed(1)}% false)\n`
      : `no threshold keeps false hits ≤ ${(100 * maxFalse).toFixed(1)}%\n`,
  );
  return best;
}

export const cacheEvalCommand = defineCommand({
  name: "cache eval",
  summary: "calibrate cache thresholds on a labelled dataset (JSONL {text, group} or CSV text,group)",
  options: {
    dataset: { type: "string" },
    holdout: { type: "string" },
    seed: { type: "string" },
    "max-false": { type: "string" },
    json: { type: "boolean" },
  },
  optionHelp: [
    "--dataset FILE  JSONL of {text, group} (one group shares one answer) or CSV with text,group columns",
    "--holdout F     share of each group used as queries (default 0.2)",
    "--seed N        split seed (default 1)",
    "--max-false F   false-hit rate to calibrate for (default 0.02)",
    "--json          print JSON",
  ],
  async run({ values, deps }) {
    const file = stringOption(values, "dataset");
    if (!file) throw new UsageError("cache eval: --dataset FILE is required", cacheEvalCommand);
    /** A number within [min, max) (or (min, max) when `open`); a usage error names the range. */
    const num = (name: string, dflt: number, [min, max, open]: [number, number, boolean]) => {
      const raw = stringOption(values, name);
      const n = raw === undefined ? dflt : /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
      if (!(n < max && (open ? n > min : n >= min))) {
        const range = `${open ? "(" : "["}${min}, ${max})`;
        throw new UsageError(`cache eval: --${name} must be a number in ${range}, got "${raw}"`, cacheEvalCommand);
      }
      return n;
    };
    const holdout = num("holdout", 0.2, [0, 1, true]);
    const seed = num("seed", 1, [0, 2 ** 32, false]);
    const maxFalse = num("max-false", 0.02, [0, 1, false]);
    // The configured embedder, when there is a config with one: what an embedding model adds. No config file is
    // fine only when none was named (--config, AIDEAZZ_CONFIG); one that cannot be used is an error, never skipped.
    const named = stringOption(values, "config") ?? envValue(deps, "AIDEAZZ_CONFIG");
    const loaded = await readConfig(values, deps, []).catch((err) => {
      if (named === undefined && err instanceof ConfigError && err.issues[0]?.path === "(file)") return undefined;
      throw err;
    });
    let text: string;
    try {
      text = await deps.readTextFile(file);
    } catch {
      deps.stderr(`cache eval: cannot read the dataset ${file}\n`);
      return 1;
    }
    let rows: ReturnType<typeof parseDataset>;
    try {
      rows = parseDataset(text, file.endsWith(".jsonl") ? "jsonl" : "csv");
    } catch (err) {
      deps.stderr(`cache eval: ${file}: ${(err as Error).message}\n`);
      return 1;
    }
    const { stored, queries } = splitStratified(rows, { holdout, seed });
    if (queries.length === 0 || stored.length === 0) {
      deps.stderr(
        `cache eval: ${rows.length} rows give ${stored.length} stored and ${queries.length} held-out questions; ` +
          "both are needed (more rows, or another --holdout)\n",
      );
      return 1;
    }
    const json = values["json"] === true;
    const out: CliDeps = json ? { ...deps, stdout: () => {} } : deps;
    const lexical = sweepThresholds(stored, queries, () => createMatcher(), thresholdGrid(0, 1, 101));
    const results: Record<string, unknown> = { lexical: { ...lexical, best: printSweep(out, "lexical matcher (no model)", lexical, maxFalse) } };
    const emb = loaded?.config.cache.embeddings;
    if (emb) {
      const apiKey = emb.apiKeyEnv ? deps.env[emb.apiKeyEnv] : undefined;
      const embedder = createEmbedder({ baseUrl: emb.baseUrl, model: emb.model, fetch: deps.fetch, timeoutMs: 30_000, ...(apiKey ? { apiKey } : {}) });
      const semantic = sweepThresholds(stored, queries, await embeddingScorer(embedder, stored, queries), thresholdGrid(0, 1, 101));
      results["semantic"] = { ...semantic, best: printSweep(out, `embeddings (${emb.model} at ${emb.baseUrl})`, semantic, maxFalse) };
    } else {
      out.stdout("\n(no cache.embeddings configured: the semantic tier was not evaluated)\n");
    }
    if (json) deps.stdout(JSON.stringify(results) + "\n");
    return 0;
  },
});
