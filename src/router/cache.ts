/**
 * The response cache: answers the router already paid for, served again for the same question.
 *
 * Tiers, cheapest first:
 * 1. exact — sha256 of the scope and `normalizeText(prompt)` (NFKC, case, whitespace, punctuation, greetings
 *    and fillers: see normalize.ts), one indexed lookup;
 * 2. lexical — the same matcher as the FAQ (no model) over this scope's stored prompts;
 * 3. semantic — cosine over embeddings in the store (brute force; fine up to ~50k entries), when an embedder
 *    is configured. The guard refuses a hit whose numbers, names, currencies or negation differ.
 *
 * A scope is the agent's role, its system-prompt version and a hash of the context that matters, so an answer
 * is never served to a conversation it was not written for. By default only context-free turns (no earlier
 * turns in the conversation) are cached and served.
 *
 * One user's answer is served to others, so what steered it must be the question itself: a prompt of several lines
 * (a burst, a question followed by instructions to the model) is neither stored nor looked up (a burst's first
 * question would get its own answer alone), and a lexical hit needs at least half of the stored prompt's words in
 * the question (a stored prompt that says much more was another question) and no swapped subject (`swappedSubject`:
 * "How much does shipping cost?" is not "How much does it cost?").
 * Nor is a turn whose prompt is about the person asking: an e-mail address, a phone number (or any 7 digits or more),
 * a street address ("12 elm street", "Elmegade 12"), a name they introduce themselves with ("my name is maria" →
 * "Hi Maria!", "i'm maria" when the answer writes "Maria"), which no guard could tell from another's. Nor a prompt
 * with invisible characters: `normalizeText` reads them as spaces, while a model reads Unicode tag characters as an
 * instruction (the channels drop them; the OpenAI endpoint's callers may not).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { keepSpelling } from "../agents/channel/invisible.ts";
import { type Logger, scrubPii } from "../log.ts";
import { batchReads, type Client, purgeInChunks, selectRows } from "../store/mod.ts";
import { type Embedder, toVectorBlob } from "./embeddings.ts";
import { guardAllows } from "./guard.ts";
import { createMatcher, type Matcher, swappedSubject } from "./matcher.ts";
import { extractGuardFeatures, normalizeText, tokenize } from "./normalize.ts";

export type CacheTier = "exact" | "lexical" | "semantic";

export interface CacheHit {
  entryId: number;
  answer: string;
  tier: CacheTier;
  score: number;
}

export interface CacheOptions {
  client: Client;
  now: () => number;
  ttlMs: number;
  /** Matcher score a lexical hit needs. */
  lexicalThreshold: number;
  /** Cosine similarity a semantic hit needs. */
  semanticThreshold: number;
  /**
   * Entries kept per scope (default `DEFAULT_MAX_ENTRIES`): past it the oldest go (from the store and the index).
   * Bounds the lexical index's memory (~2 KB an entry) and lookup time, which the TTL alone does not at a steady
   * rate of new questions.
   */
  maxEntries?: number;
  embedder?: Embedder;
  /** Where a failing embedder is told (at most every `EMBED_WARN_EVERY_MS`). */
  log?: Pick<Logger, "warn">;
}

export interface CacheStats {
  entries: number;
  expired: number;
  scopes: number;
  /** Entries per scope (`role/prompt-version/context`), largest first. */
  byScope: { scope: string; entries: number }[];
  checks: number;
  falseHits: number;
}

export interface ResponseCache {
  lookup(scope: string, prompt: string, signal?: AbortSignal): Promise<CacheHit | null>;
  /**
   * The exact tier alone: the same prompt, as `normalizeText` reads it; or, `verbatim`, as sent (NFC, trimmed),
   * for entries stored `verbatim` (never a prompt of several lines).
   */
  lookupExact(scope: string, prompt: string, verbatim?: boolean): Promise<CacheHit | null>;
  store(
    scope: string,
    prompt: string,
    answer: string,
    meta: { provider: string; model: string; verbatim?: boolean },
  ): Promise<void>;
  /** Records the outcome of answering a hit fresh: the measured false-hit rate. */
  recordCheck(entryId: number, agreed: boolean): Promise<void>;
  stats(): Promise<CacheStats>;
  /** Deletes every entry, or those of `scope`: a whole scope, or its start (a role, `role/prompt-version`). */
  clear(scope?: string): Promise<number>;
  /**
   * Deletes entries stored before `cutoff` (epoch ms), served or expired: a prompt is a user's message, so the
   * orchestrator's retention (`conversation.retentionDays`) bounds it even when `ttlMs` is longer. Entries past
   * their TTL go as well.
   */
  purgeBefore(cutoff: number, signal?: AbortSignal): Promise<number>;
}

/**
 * Whether two answers say the same thing: word overlap (Jaccard) of their stemmed words ≥ 0.5, and the same numbers,
 * names, currencies and negation (the guard's: "we deliver on Sundays" and "we do not deliver on Sundays" share most
 * words). Used to grow answer groups (a new prompt whose fresh answer agrees with a close entry's joins that entry's
 * group: groups of paraphrases are what make the matcher strong) and to judge sampled checks of cache hits.
 */
export function answersAgree(a: string, b: string): boolean {
  if (guardAllows(a, b) !== true) return false;
  const x = new Set(tokenize(a));
  const y = new Set(tokenize(b));
  if (x.size === 0 && y.size === 0) return true;
  let both = 0;
  for (const w of x) if (y.has(w)) both++;
  return both / (x.size + y.size - both) >= 0.5;
}

/** Synchronous on purpose: Web Crypto's digest is a round trip to a worker thread, twice per turn. */
function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** An entry's exact-tier key: the prompt as `normalizeText` reads it, or as sent (`verbatim`). */
function exactKey(scope: string, prompt: string, verbatim = false): string {
  return sha256Hex(`${scope}\n${verbatim ? prompt.normalize("NFC").trim() : normalizeText(prompt)}`);
}

/** The scope of a turn: who answers (role + prompt version) and, for contextual turns, what came before. */
export function cacheScope(role: string, systemPrompt: string, context: readonly string[] = []): string {
  const promptVersion = sha256Hex(systemPrompt).slice(0, 12);
  const contextHash = context.length === 0 ? "none" : sha256Hex(context.map(normalizeText).join("\n")).slice(0, 16);
  return `${role}/${promptVersion}/${contextHash}`;
}

interface ScopeIndex {
  matcher: Matcher;
  answers: Map<number, { answer: string; prompt: string; expiresAt: number }>;
  lastId: number;
}

/** Takes an entry out of its scope's lexical index. */
function forget(index: ScopeIndex, id: number): void {
  index.matcher.remove(String(id));
  index.answers.delete(id);
}

/** Cached answers kept per scope: ~20 MB of lexical index, lookups ~1 ms (`scripts/eval-matcher.ts --bench`). */
export const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * The embedder failing skips the semantic tier without failing a turn, so it is logged, but once per this long: a
 * dead endpoint (llama-server without --embeddings answers 501) fails every lookup and store.
 */
export const EMBED_WARN_EVERY_MS = 10 * 60_000;

/** Share of a stored prompt's words a lexical hit's question must have. */
const MIN_COVERED = 0.5;

/** A person introducing themselves: what follows is their name. */
const SELF_INTRODUCTION =
  /(?:^|[^\p{L}])(?:my name(?: is|'s)|call me|i am called|i'm called|me llamo|je m'appelle|ich heiße|mein name ist)\s+\p{L}/iu;

/** A capitalised word, the way a name is written; "Anna-Lena", "O'Brien". */
const NAME = /^\p{Lu}[\p{Ll}'-]*\p{Ll}$/u;
/** The word a `NAMED` lead-in points at (its first group), tested against `NAME` apart: with the `i` flag a pattern's
 * `\p{Lu}` would match lower case too. */
const WORD = String.raw`(\p{L}[\p{L}'-]*)`;
/**
 * Names without "my name is", the lead-in in any case, the name capitalised (by the prompt, or by its answer: see
 * `isPersonal`; "this is urgent" is none): "Maria here, …", "Hi, it's Maria", "This is Maria from Acme", "i'm
 * Maria", and a sign-off ("… - Maria", "— Maria Lopez", "THANKS, Maria"). An ordinary question may match ("It's
 * Monday, are you open?"): it is only not cached.
 */
const NAMED = [
  new RegExp(String.raw`^(?:\p{L}+[,!.]?\s+)?${WORD}\s+here\b`, "giu"),
  new RegExp(String.raw`(?:^|[^\p{L}])(?:it's|it is|this is|i'm|i am)\s+${WORD}`, "giu"),
  new RegExp(String.raw`(?:^|[\s\p{P}])(?:[-–—~]+|thanks,?|thank you,?|regards,?|cheers,?)\s*${WORD}(?:\s+\p{L}[\p{L}'-]*)?[\s.!]*$`, "giu"),
];

/**
 * A street address, in any case (chat users type "12 elm street", where the guard sees no name): a house number, one
 * to three words and a street word ("12 elm street", "221b Baker St."), or the street word first ("5 rue de la Paix");
 * a street word, and its name, before the number ("Calle Mayor 5"); a street word, alone or ending a word, before the
 * number ("Elmegade 12", "Karl Johans gate 1", "Bahnhofstraße 5").
 */
const ADDRESS = [
  /(?<![\p{L}\p{N}])\d+\p{L}?\s+(?:[\p{L}\p{N}][\p{L}\p{N}'.-]*\s+){1,3}(?:street|st|road|rd|avenue|ave|lane|ln|way|drive|boulevard|blvd)(?![\p{L}\p{N}])/iu,
  /(?<![\p{L}\p{N}])\d+\p{L}?,?\s+(?:rue|avenue|boulevard)\s+\p{L}/iu,
  /(?<!\p{L})(?:calle|avenida|rua)\s+(?:\p{L}[\p{L}'.-]*\s+){1,3}\d/iu,
  /\p{L}\s?(?:vej|gade|vei|veien|gate|gata|gatan|straße|strasse|weg|gasse)\s+\d/iu,
];
/**
 * Seven digits or more, with up to two separators between digits: a phone number even where `scrubPii` sees none
 * (it needs 9: "2345 6789" is one in Denmark, Norway and Singapore), or an order or customer number. A number that
 * is not one only leaves one answer uncached.
 */
const LONG_NUMBER = /\d(?:[ .()-]{0,2}\d){6}/;

/**
 * True when a prompt carries details of the person who wrote it, or its answer is written to them: never shared
 * through the cache. A name typed in lower case ("i'm maria") is one when the answer capitalises it ("Hi Maria!").
 */
function isPersonal(prompt: string, answer: string): boolean {
  const t = prompt.normalize("NFKC").replace(/[\u2018\u2019]/g, "'");
  const named = (w: string) => NAME.test(w) || extractGuardFeatures(answer).names.includes(w.toLowerCase());
  return scrubPii(t) !== t || LONG_NUMBER.test(t) || ADDRESS.some((re) => re.test(t)) || SELF_INTRODUCTION.test(t) ||
    NAMED.some((re) => [...t.trim().matchAll(re)].some((m) => named(m[1]!)));
}

/**
 * True when `text` has characters a reader does not see, which a model may read (tag characters) as text; a joiner
 * that is part of the spelling (Persian's non-joiner) is seen as the reader sees it.
 */
const hasInvisible = (text: string) => keepSpelling(text) !== text;

/** A burst, or a question followed by instructions: its answer is not the answer to any one line of it. */
const severalLines = (text: string) => text.trim().includes("\n");
/**
 * The same in SQL, for rows read: releases before 2026-11-30 stored such prompts, and one running on this schema (a
 * rolling restart's, a rollback's) still may after migration 68 deleted those there were.
 */
const ONE_LINE_SQL = "instr(trim(prompt, char(32, 9, 10, 13)), char(10)) = 0";

/** The share of `stored`'s words (stemmed matcher tokens) that `question` has. */
function coveredShare(question: string, stored: string): number {
  const words = tokenize(stored);
  if (words.length === 0) return 1;
  const asked = new Set(tokenize(question));
  return words.filter((w) => asked.has(w)).length / words.length;
}

export function createResponseCache(opts: CacheOptions): ResponseCache {
  const { client, now } = opts;
  const scopes = new Map<string, ScopeIndex>();
  let warnedAt = -Infinity;
  let failures = 0; // since the last warning
  const embedFailed = (err: unknown): null => {
    failures++;
    if (opts.log && now() - warnedAt >= EMBED_WARN_EVERY_MS) {
      const error = err instanceof Error ? err.message : String(err);
      const fields = { model: opts.embedder?.model, error, failures };
      opts.log.warn("cache embeddings failed; the semantic tier is skipped", fields);
      warnedAt = now();
      failures = 0;
    }
    return null;
  };
  /** The exact lookups of one tick (a round's turns) as one statement. */
  const exactOf = batchReads(async (keys) => {
    const rows = await selectRows<[string, number, string]>(client, {
      sql: `SELECT c.key, c.id, c.answer FROM json_each(?1) AS j CROSS JOIN cache_entries AS c ON c.key = j.value
        WHERE c.expires_at > ?2`,
      args: [JSON.stringify(keys), now()],
    }, ["key", "id", "answer"]);
    return new Map(rows.map(([key, entryId, answer]) => [key, { entryId, answer }]));
  });

  /** Loads (or catches up) a scope's lexical index from the store: other processes write the cache too. */
  async function indexOf(scope: string): Promise<ScopeIndex> {
    let index = scopes.get(scope);
    if (!index) {
      index = { matcher: createMatcher(), answers: new Map(), lastId: 0 };
      scopes.set(scope, index);
    }
    const rs = await client.execute({
      sql: `SELECT id, prompt, answer, answer_group, expires_at FROM cache_entries
        WHERE scope = ? AND id > ? AND expires_at > ? AND ${ONE_LINE_SQL} ORDER BY id`,
      args: [scope, index.lastId, now()],
    });
    for (const row of rs.rows) {
      const id = Number(row["id"]);
      index.matcher.add(String(id), String(row["prompt"]), String(row["answer_group"]));
      index.answers.set(id, { answer: String(row["answer"]), prompt: String(row["prompt"]), expiresAt: Number(row["expires_at"]) });
      index.lastId = Math.max(index.lastId, id);
    }
    return index;
  }

  /**
   * Past `maxEntries` in a scope, its first-stored entries leave the index and the store (ids grow with time; an
   * answer stored again for the same question keeps its id, so it goes by when it was first stored).
   */
  async function evictOldest(scope: string): Promise<void> {
    const index = await indexOf(scope);
    const excess = index.answers.size - (opts.maxEntries ?? DEFAULT_MAX_ENTRIES);
    if (excess <= 0) return;
    const oldest = [...index.answers.keys()].slice(0, excess);
    for (const id of oldest) forget(index, id);
    await client.execute({
      sql: "DELETE FROM cache_entries WHERE scope = ? AND id <= ?",
      args: [scope, oldest.at(-1)!],
    });
  }

  /**
   * `evictOldest` in the store alone, for a scope whose index is never loaded: a `verbatim` scope, served by the exact
   * tier only.
   */
  async function evictOldestStored(scope: string): Promise<void> {
    await client.execute({
      sql: `DELETE FROM cache_entries WHERE scope = ?1 AND id <= (
              SELECT id FROM cache_entries WHERE scope = ?1 AND expires_at > ?3 ORDER BY id DESC LIMIT 1 OFFSET ?2)`,
      args: [scope, opts.maxEntries ?? DEFAULT_MAX_ENTRIES, now()],
    });
  }

  async function semantic(scope: string, prompt: string, signal?: AbortSignal): Promise<CacheHit | null> {
    if (!opts.embedder) return null;
    let vector: Float32Array;
    try {
      vector = await opts.embedder.embed(prompt, signal);
    } catch (err) {
      // The embedder is an optimisation: without it the turn goes to the next tier. A turn stopped is no failure.
      return signal?.aborted ? null : embedFailed(err);
    }
    const blob = toVectorBlob(vector);
    let rs;
    try {
      // Entries of another embedding model (another length) are not compared (libSQL refuses the pair), and a
      // distance that is NULL (a zero vector's: no direction) is no match: ORDER BY would put it first.
      rs = await client.execute({
        sql: `SELECT id, prompt, answer, d FROM (
                SELECT id, prompt, answer, vector_distance_cos(embedding, ?1) AS d FROM cache_entries
                WHERE scope = ?2 AND expires_at > ?3 AND embedding IS NOT NULL AND length(embedding) = ?4
                  AND ${ONE_LINE_SQL})
              WHERE d IS NOT NULL ORDER BY d LIMIT 1`,
        args: [blob, scope, now(), blob.byteLength],
      });
    } catch {
      return null; // as for the embedder: a tier that fails is skipped, never the turn
    }
    const row = rs.rows[0];
    if (!row) return null;
    const similarity = 1 - Number(row["d"]);
    if (similarity < opts.semanticThreshold || guardAllows(prompt, String(row["prompt"])) !== true) return null;
    return { entryId: Number(row["id"]), answer: String(row["answer"]), tier: "semantic", score: similarity };
  }

  async function lookupExact(scope: string, prompt: string, verbatim = false): Promise<CacheHit | null> {
    if (hasInvisible(prompt) || (verbatim && severalLines(prompt))) return null;
    const exact = await exactOf(exactKey(scope, prompt, verbatim));
    return exact ? { ...exact, tier: "exact", score: 1 } : null;
  }

  return {
    lookupExact,

    async lookup(scope, prompt, signal) {
      if (hasInvisible(prompt) || severalLines(prompt)) return null;
      const exact = await lookupExact(scope, prompt);
      if (exact) return exact;

      const index = await indexOf(scope);
      const hit = index.matcher.match(prompt, { threshold: opts.lexicalThreshold });
      if (hit) {
        const id = Number(hit.id);
        const entry = index.answers.get(id);
        if (entry && entry.expiresAt > now()) {
          // The words the stored prompt may be asked about: its own and its answer's, as an FAQ entry's.
          const known = new Set([...tokenize(entry.prompt), ...tokenize(entry.answer)]);
          if (
            coveredShare(prompt, entry.prompt) >= MIN_COVERED && swappedSubject(prompt, entry.prompt, known) === null
          ) {
            // The answer as the store has it now: another process may have stored it again, or deleted it
            // (`aideazz cache clear`, which this process's index would not see).
            const rs = await client.execute({
              sql: "SELECT answer FROM cache_entries WHERE id = ? AND expires_at > ? LIMIT 1",
              args: [id, now()],
            });
            const answer = rs.rows[0]?.["answer"];
            if (answer !== undefined) return { entryId: id, answer: String(answer), tier: "lexical", score: hit.score };
            forget(index, id);
          }
        } else {
          forget(index, id); // expired since it was loaded
        }
      }
      return await semantic(scope, prompt, signal);
    },

    async store(scope, prompt, answer, meta) {
      // The answer is read only for a name the prompt typed in lower case: the model sees only the prompt (a
      // context-free turn), and an address or number in an answer alone is the business's own ("write to
      // billing@example.com").
      if (severalLines(prompt) || isPersonal(prompt, answer) || hasInvisible(prompt)) return;
      const key = exactKey(scope, prompt, meta.verbatim);
      // Join the group of the closest stored prompt when its answer says the same thing; else start a group. Not
      // for a verbatim entry: its scope is served by the exact tier alone, and loading the lexical index of each
      // (the OpenAI endpoint's scope per system prompt) would keep tens of KB per system prompt in memory.
      const index = meta.verbatim ? undefined : await indexOf(scope);
      const near = index?.matcher.best(prompt);
      const nearAnswer = near ? index?.answers.get(Number(near.id))?.answer : undefined;
      const group = near && nearAnswer !== undefined && answersAgree(answer, nearAnswer)
        ? near.group
        : sha256Hex(normalizeText(answer)).slice(0, 16);
      let embedding: Uint8Array | null = null;
      if (opts.embedder) {
        embedding = await opts.embedder.embed(prompt).then(toVectorBlob, embedFailed);
      }
      const at = now();
      await client.execute({
        sql: `INSERT INTO cache_entries (key, scope, prompt, answer, answer_group, provider, model, created_at, expires_at, embedding)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
              ON CONFLICT (key) DO UPDATE SET answer = excluded.answer, answer_group = excluded.answer_group,
                provider = excluded.provider, model = excluded.model, created_at = excluded.created_at,
                expires_at = excluded.expires_at, embedding = excluded.embedding`,
        args: [key, scope, prompt, answer, group, meta.provider, meta.model, at, at + opts.ttlMs, embedding],
      });
      await (index ? evictOldest(scope) : evictOldestStored(scope));
    },

    async recordCheck(entryId, agreed) {
      await client.execute({
        sql: "INSERT INTO cache_checks (entry_id, agreed, at) VALUES (?, ?, ?)",
        args: [entryId, agreed ? 1 : 0, now()],
      });
    },

    async stats() {
      const [entries, checks, byScope] = await client.batch([
        {
          sql: `SELECT count(*) AS n, sum(expires_at <= ?) AS expired FROM cache_entries`,
          args: [now()],
        },
        "SELECT count(*) AS n, coalesce(sum(agreed = 0), 0) AS false_hits FROM cache_checks",
        "SELECT scope, count(*) AS n FROM cache_entries GROUP BY scope ORDER BY n DESC, scope",
      ], "read");
      const e = entries!.rows[0]!;
      const c = checks!.rows[0]!;
      const perScope = byScope!.rows.map((r) => ({ scope: String(r["scope"]), entries: Number(r["n"]) }));
      return {
        entries: Number(e["n"]),
        expired: Number(e["expired"] ?? 0),
        scopes: perScope.length,
        byScope: perScope,
        checks: Number(c["n"]),
        falseHits: Number(c["false_hits"]),
      };
    },

    async clear(scope) {
      scopes.clear();
      const rs = scope === undefined
        ? await client.execute("DELETE FROM cache_entries")
        : await client.execute({
          sql: "DELETE FROM cache_entries WHERE scope = ?1 OR substr(scope, 1, length(?1) + 1) = ?1 || '/'",
          args: [scope],
        });
      return rs.rowsAffected;
    },

    purgeBefore(cutoff, signal) {
      // Expired entries go too (stored before now − ttlMs): served no more, they would stay in the store and in
      // the lexical index until retention. The lexical indexes hold prompts and answers too: each purged entry leaves
      // its scope's index (rebuilding a whole index would stall the event loop for ~1 s per 20,000 entries).
      return purgeInChunks(
        client,
        `DELETE FROM cache_entries WHERE id IN (SELECT id FROM cache_entries WHERE created_at < ?1 LIMIT ?2)
          RETURNING id, scope`,
        Math.max(cutoff, now() - opts.ttlMs),
        {
          signal,
          onRows: (rows) => {
            for (const r of rows) {
              const scope = String(r["scope"]);
              const index = scopes.get(scope);
              if (!index) continue;
              forget(index, Number(r["id"]));
              // An emptied index goes too: else each scope ever used (a system prompt with today's date in it) keeps
              // its matcher for the life of the process. A later lookup loads the scope again from the store.
              if (index.answers.size === 0) scopes.delete(scope);
            }
          },
        },
      );
    },
  };
}
