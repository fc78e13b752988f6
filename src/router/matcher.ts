/**
 * The router's one matcher, used by the operator FAQ (a few paraphrases per answer) and by the response cache
 * (past prompts, each tagged with the answer it got). No external model: everything here is counting.
 *
 * How a lookup decides, and why:
 * 1. Exact tier: `normalizeText(query)` equal to a stored entry's → score 1.
 * 2. Answer groups, not single entries, compete. Each group is a bag of features (stemmed words, word pairs,
 *    character 3–5-grams, every feature counted once per entry) scored by query likelihood with Dirichlet
 *    smoothing (Zhai & Lafferty 2001). Pooling a group's paraphrases is what lifts this above nearest-neighbour
 *    TF-IDF: a query shares a few words with each of many paraphrases, rarely many words with one.
 * 3. Confidence is the margin between the best and second-best group's log-likelihood per query feature: a
 *    query that two answers explain equally well is ambiguous, however similar it looks to each.
 * 4. The returned entry is the winning group's entry with the highest TF-IDF cosine to the query that the
 *    guard allows; `score = 1 − e^(−margin × √cosine / 3)`, so a hit needs a clear winner and a close entry. (On
 *    banking77 margin × √cosine kept more hits at 2% false hits than margin alone, cosine alone, or cosine ×
 *    a saturating function of margin.)
 *
 * The index is inverted (feature → entry slots, typed arrays) so a lookup touches only entries that share a
 * feature with the query; removals leave tombstones, compacted once they outnumber live entries.
 *
 * @module
 */
import {
  contentStems,
  extractGuardFeatures,
  FUNCTION_WORDS,
  type GuardFeatures,
  normalizeText,
  stem,
  tokenize,
} from "./normalize.ts";
import { guardAllows, type GuardRefusal } from "./guard.ts";

/** Tuning knobs; the defaults were chosen on banking77 (see scripts/eval-matcher.ts). */
export interface MatcherOptions {
  /** Upper bound of the Dirichlet prior mass μ, which pulls a group's counts toward the whole store's. The μ
   * used is min(smoothing, mean group mass), so a small FAQ is not smoothed into its background. Default 300. */
  readonly smoothing?: number;
  /** Character n-gram lengths, inclusive. Default [3, 5]. */
  readonly charNgrams?: readonly [number, number];
  /** Weight of one character n-gram relative to one word or word pair in the group model. Default 0.3. */
  readonly charWeight?: number;
  /** Weight of one character n-gram in the entry cosine. Default 0.3. */
  readonly cosineCharWeight?: number;
  /** Refuse entries whose numbers, names, currencies or negation differ from the query's. Default true. */
  readonly guard?: boolean;
}

/** The best stored entry for a query, with the numbers behind the decision. */
export interface Candidate {
  readonly id: string;
  readonly group: string;
  /** In [0, 1): `1 − e^(−margin × √similarity / 3)`, or 1 for an exact hit. Compare with a threshold. */
  readonly score: number;
  /** Best minus second-best group log-likelihood per query feature (≥ 0). Infinity for an exact hit, and when
   * only one group is stored: then nothing competes and `score` is the similarity. */
  readonly margin: number;
  /** TF-IDF cosine between the query and this entry, in [0, 1]. */
  readonly similarity: number;
  readonly exact: boolean;
  /** Set when the guard refused every entry of the winning group; `id` is then the closest refused entry. */
  readonly refused?: GuardRefusal;
}

/** An accepted match: a candidate the guard allowed, with score ≥ threshold. */
export type Match = Omit<Candidate, "refused">;

export interface Matcher {
  /**
   * Stores `text` under `id` (replacing an entry with the same id). `group` is the answer id; default `id`.
   * `answer`: the text the entry answers with, when known (the FAQ): a name it mentions may be asked about ("How much
   * does Pro cost?" for "How much does it cost?" answered "… Pro at $29 …"); the guard's names check reads it.
   */
  add(id: string, text: string, group?: string, answer?: string): void;
  /** Deletes an entry; returns false when the id is unknown. */
  remove(id: string): boolean;
  /** The best allowed entry with score ≥ `threshold` (default `DEFAULT_THRESHOLD`), else null. */
  match(text: string, opts?: { readonly threshold?: number }): Match | null;
  /** The best candidate whatever its score, refused or not: for threshold sweeps and diagnostics. */
  best(text: string): Candidate | null;
  readonly size: number;
  /** Distinct features (words, word pairs, character n-grams) of the stored entries. */
  readonly features: number;
}

/** At this score 2% of banking77 held-out queries (seed 1, 80/20 split) got a wrong answer. Each deployment
 * should run `sweepThresholds` on its own data: the right threshold depends on how close its answers are. */
export const DEFAULT_THRESHOLD = 0.5;

interface Entry {
  readonly id: string;
  slot: number;
  readonly group: number;
  readonly fids: Int32Array;
  readonly guard: GuardFeatures;
  readonly key: string;
  /** The stems of its content words (`contentStems`): what it is about. */
  readonly about: ReadonlySet<string>;
  norm: number;
  normAt: number;
}

const FAMILY_CHAR = 1;
/** How many best groups a lookup ranks: enough to find two the guard allows in practice. */
const RANKED = 8;

/** Two content stems that name the same thing: equal, or one of three letters or more beginning the other. */
function related(a: string, b: string): boolean {
  return a === b || (Math.min(a.length, b.length) >= 3 && (a.startsWith(b) || b.startsWith(a)));
}

/** Maps margin × √similarity (≥ 0, unbounded) onto [0, 1). The /3 spreads the useful range: on banking77 the
 * 2%-false-hit point lands near 0.5 instead of crowding near 1. */
const toScore = (margin: number, similarity: number) =>
  1 - Math.exp(-margin * Math.sqrt(Math.min(1, similarity)) / 3);

/** Feature keys of a text: "w" word, "b" word pair, "c" character n-gram of a space-padded word. */
function featureKeys(text: string, [lo, hi]: readonly [number, number]): Set<string> {
  const words = tokenize(text);
  const keys = new Set<string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    keys.add("w" + w);
    if (i + 1 < words.length) keys.add("b" + w + " " + words[i + 1]);
    const p = " " + w + " ";
    for (let n = lo; n <= hi; n++) for (let j = 0; j + n <= p.length; j++) keys.add("c" + p.slice(j, j + n));
  }
  return keys;
}

/** `features` whose words also hold those of `text`: the names a query may mention. */
function withWordsOf(features: GuardFeatures, text: string): GuardFeatures {
  return { ...features, words: new Set([...features.words, ...extractGuardFeatures(text).words]) };
}

function grown<T extends Int32Array | Float64Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2, 16));
  b.set(a);
  return b;
}

/**
 * Creates an empty in-memory matcher.
 *
 * @example
 * const m = createMatcher();
 * m.add("faq-1", "How do I reset my password?", "reset-password");
 * m.add("faq-2", "I forgot my password", "reset-password");
 * m.add("faq-3", "What are your opening hours?", "hours");
 * m.best("forgot password, how to reset it")?.group // → "reset-password"
 */
export function createMatcher(opts: MatcherOptions = {}): Matcher {
  const maxMu = opts.smoothing ?? 300;
  let mu = maxMu; // the μ in use; see refreshPriors()
  const ngrams = opts.charNgrams ?? [3, 5];
  const lmW = [1, opts.charWeight ?? 0.3];
  const cosW = [1, opts.cosineCharWeight ?? 0.3];
  const useGuard = opts.guard ?? true;
  if (!(maxMu > 0) || ngrams[0] < 1 || ngrams[1] < ngrams[0]) {
    throw new RangeError("createMatcher: bad options");
  }

  // Features.
  const fidOf = new Map<string, number>();
  const keyOf: string[] = [];
  const freeFids: number[] = [];
  let family = new Int32Array(0);
  let df = new Int32Array(0);
  let postLen = new Int32Array(0);
  const post: Int32Array[] = [];
  // Entries and groups.
  const byId = new Map<string, Entry>();
  const exact = new Map<string, string[]>();
  let slots: (Entry | undefined)[] = [];
  let slotGroup = new Int32Array(0);
  const groupOf = new Map<string, number>();
  const groupName: string[] = [];
  const members: Set<Entry>[] = [];
  const freeGroups: number[] = [];
  let groupLen = new Float64Array(0);
  let groupPrior = new Float64Array(0); // log(μ / (groupLen + μ)), kept in step with groupLen
  let groupCount = new Int32Array(0);
  let totalMass = 0;
  let minLen = -1; // lazily recomputed; -1 = stale
  // Per-lookup scratch, reset after each lookup.
  let gcnt = new Int32Array(0);
  let gscore = new Float64Array(0);
  let gstamp = new Int32Array(0);
  let qweight = new Float64Array(0); // per feature: its squared cosine weight in the current query
  let qstamp = new Int32Array(0);
  let stamp = 0;
  let fbuf = new Int32Array(0); // groups touched by the current feature
  let gbuf = new Int32Array(0); // groups touched by the lookup

  const idf = (fid: number) => Math.log((byId.size + 1) / ((df[fid] ?? 0) + 1)) + 1;
  const famW = (w: number[], fid: number) => w[family[fid] ?? 0]!;

  function intern(key: string): number {
    let fid = fidOf.get(key);
    if (fid !== undefined) return fid;
    fid = freeFids.pop();
    if (fid === undefined) {
      fid = post.length;
      post.push(new Int32Array(4));
      family = grown(family, fid + 1);
      df = grown(df, fid + 1);
      postLen = grown(postLen, fid + 1);
      qweight = grown(qweight, fid + 1);
      qstamp = grown(qstamp, fid + 1);
    }
    fidOf.set(key, fid);
    keyOf[fid] = key;
    family[fid] = key.startsWith("c") ? FAMILY_CHAR : 0;
    return fid;
  }

  /** A feature no stored entry has any more is forgotten, its number reused: the vocabulary is that of the live
   * entries (a cache sees a new order number in nearly every question). Its posting list holds only removed slots. */
  function release(fid: number): void {
    fidOf.delete(keyOf[fid]!);
    keyOf[fid] = "";
    post[fid] = new Int32Array(4);
    postLen[fid] = 0;
    freeFids.push(fid);
  }

  function groupIndex(name: string): number {
    let g = groupOf.get(name);
    if (g !== undefined) return g;
    g = freeGroups.pop() ?? groupName.length;
    groupOf.set(name, g);
    groupName[g] = name;
    members[g] = new Set();
    groupLen = grown(groupLen, g + 1);
    groupPrior = grown(groupPrior, g + 1);
    groupCount = grown(groupCount, g + 1);
    gcnt = grown(gcnt, g + 1);
    gscore = grown(gscore, g + 1);
    gstamp = grown(gstamp, g + 1);
    return g;
  }

  function add(id: string, text: string, group: string = id, answer?: string): void {
    remove(id);
    const g = groupIndex(group);
    const fids = Int32Array.from(featureKeys(text, ngrams), intern);
    const key = normalizeText(text);
    const slot = slots.length;
    const entry: Entry = {
      id,
      slot,
      group: g,
      fids,
      guard: answer === undefined ? extractGuardFeatures(text) : withWordsOf(extractGuardFeatures(text), answer),
      key,
      about: contentStems(key),
      norm: 0,
      normAt: -1,
    };
    slots.push(entry);
    slotGroup = grown(slotGroup, slot + 1);
    slotGroup[slot] = g;
    for (const fid of fids) {
      const n = postLen[fid]!;
      if (n === post[fid]!.length) post[fid] = grown(post[fid]!, n + 1);
      post[fid]![n] = slot;
      postLen[fid] = n + 1;
      df[fid]!++;
      groupLen[g]! += famW(lmW, fid);
      totalMass += famW(lmW, fid);
    }
    groupCount[g]!++;
    members[g]!.add(entry);
    groupPrior[g] = Math.log(mu / (groupLen[g]! + mu));
    byId.set(id, entry);
    const same = exact.get(entry.key);
    if (same) same.push(id);
    else exact.set(entry.key, [id]);
    minLen = -1;
  }

  function remove(id: string): boolean {
    const e = byId.get(id);
    if (!e) return false;
    byId.delete(id);
    slots[e.slot] = undefined;
    slotGroup[e.slot] = -1;
    for (const fid of e.fids) {
      groupLen[e.group]! -= famW(lmW, fid);
      totalMass -= famW(lmW, fid);
      if (--df[fid]! === 0) release(fid);
    }
    groupPrior[e.group] = Math.log(mu / (groupLen[e.group]! + mu));
    members[e.group]!.delete(e);
    if (--groupCount[e.group]! === 0) {
      groupOf.delete(groupName[e.group]!);
      groupLen[e.group] = 0;
      freeGroups.push(e.group);
    }
    const same = exact.get(e.key)?.filter((x) => x !== id) ?? [];
    if (same.length > 0) exact.set(e.key, same);
    else exact.delete(e.key);
    minLen = -1;
    if (slots.length - byId.size > Math.max(1024, byId.size)) compact();
    return true;
  }

  /** Drops tombstoned slots from every posting list and renumbers the live entries densely. */
  function compact(): void {
    const live = slots.filter((e): e is Entry => e !== undefined);
    const newSlot = new Int32Array(slots.length).fill(-1);
    live.forEach((e, i) => (newSlot[e.slot] = i));
    for (let fid = 0; fid < post.length; fid++) {
      const p = post[fid]!;
      let k = 0;
      for (let i = 0; i < postLen[fid]!; i++) if (newSlot[p[i]!]! >= 0) p[k++] = newSlot[p[i]!]!;
      postLen[fid] = k;
    }
    live.forEach((e, i) => (e.slot = i));
    slots = live;
    slotGroup = Int32Array.from(live, (e) => e.group);
  }

  function entryNorm(e: Entry): number {
    const n = byId.size;
    if (e.normAt < 0 || Math.abs(n - e.normAt) > 0.1 * e.normAt) {
      let s = 0;
      for (const fid of e.fids) s += (famW(cosW, fid) * idf(fid)) ** 2;
      e.norm = Math.sqrt(s);
      e.normAt = n;
    }
    return e.norm;
  }

  /** μ follows the mean group mass (capped at `maxMu`), as Dirichlet priors are usually set near the mean
   * document length. It is re-fixed only when it drifts by more than 2%, so a growing store does not pay for
   * recomputing every group's prior on every lookup. */
  function refreshPriors(): void {
    const target = Math.min(maxMu, totalMass / Math.max(1, groupOf.size));
    if (!(target > 0) || Math.abs(target - mu) <= 0.02 * mu) return;
    mu = target;
    for (const g of groupOf.values()) groupPrior[g] = Math.log(mu / (groupLen[g]! + mu));
  }

  function smallestGroupLen(): number {
    if (minLen < 0) {
      minLen = Infinity;
      for (const g of groupOf.values()) minLen = Math.min(minLen, groupLen[g]!);
    }
    return minLen;
  }

  /**
   * The best candidate; none when the text shares only function words with its group ("What are your prices?" is
   * not "What are your opening hours?", however alone that entry is). Words are related when one stem begins the
   * other ("log" and "login").
   */
  function best(text: string): Candidate | null {
    const key = normalizeText(text);
    const c = closest(text, key);
    if (!c || c.exact) return c;
    const asked = [...contentStems(key)];
    for (const e of members[groupOf.get(c.group)!]!) {
      if (e.about.size === 0) return c;
      for (const w of e.about) if (asked.some((q) => related(q, w))) return c;
    }
    return null;
  }

  /** The best candidate for `text`, whose `normalizeText` is `key`. */
  function closest(text: string, key: string): Candidate | null {
    const qGuard = extractGuardFeatures(text);
    for (const id of key === "" ? [] : exact.get(key) ?? []) {
      const e = byId.get(id)!;
      if (!useGuard || guardAllows(qGuard, e.guard) === true) {
        return { id, group: groupName[e.group]!, score: 1, margin: Infinity, similarity: 1, exact: true };
      }
    }
    if (byId.size === 0) return null;
    refreshPriors();
    stamp++;
    fbuf = grown(fbuf, groupName.length);
    gbuf = grown(gbuf, groupName.length);
    let ng = 0;
    let qn = 0;
    let qnorm = 0;
    for (const key of featureKeys(text, ngrams)) {
      const fid = fidOf.get(key);
      if (fid === undefined || df[fid] === 0) {
        qnorm += (cosW[key.startsWith("c") ? FAMILY_CHAR : 0]! * (Math.log(byId.size + 1) + 1)) ** 2;
        continue;
      }
      const wl = famW(lmW, fid);
      const wc = famW(cosW, fid) * idf(fid);
      qn += wl;
      qnorm += wc * wc;
      qweight[fid] = wc * wc;
      qstamp[fid] = stamp;
      const p = post[fid]!;
      let nf = 0;
      for (let i = 0, n = postLen[fid]!; i < n; i++) {
        const g = slotGroup[p[i]!]!;
        if (g >= 0 && gcnt[g]!++ === 0) fbuf[nf++] = g;
      }
      // Dirichlet query likelihood, rank-equivalent sparse form: Σ w·log(1 + c(t,g) / (μ·p(t|store))).
      const background = mu * (df[fid]! * wl) / totalMass;
      const once = wl * Math.log(1 + wl / background); // most groups hold a feature once: one log per feature
      for (let j = 0; j < nf; j++) {
        const g = fbuf[j]!;
        const c = gcnt[g]!;
        gcnt[g] = 0;
        const gain = c === 1 ? once : wl * Math.log(1 + (wl * c) / background);
        if (gstamp[g] !== stamp) {
          gstamp[g] = stamp;
          gscore[g] = gain;
          gbuf[ng++] = g;
        } else gscore[g]! += gain;
      }
    }
    // The best groups, best first. A group the guard rules out entirely (every entry has another number, name,
    // currency or polarity) is no answer and no competitor: "plan 2" must not lose to a near-identical "plan 3".
    const ranked = topGroups(ng, qn);
    const fits = (g: number) => {
      if (!useGuard) return true;
      for (const e of members[g]!) if (guardAllows(qGuard, e.guard) === true) return true;
      return false;
    };
    const allowed = ranked.filter((r) => fits(r.g)).slice(0, 2);
    const winner = allowed[0] ?? ranked[0];
    if (!winner) return null;
    // Without a second allowed group among the ranked ones, the best other group is the competitor, allowed or
    // not: the margin must always be measured against something that could have been said instead.
    let runnerUp = (allowed[1] ?? ranked.find((r) => r !== winner))?.s ?? -Infinity;
    if (groupOf.size > ng) runnerUp = Math.max(runnerUp, qn * Math.log(mu / (smallestGroupLen() + mu)));
    const top = winner.g;
    // With a single answer group there is nothing to tell apart: similarity alone decides.
    const single = runnerUp === -Infinity;
    const margin = single ? Infinity : Math.max(0, winner.s - runnerUp) / Math.sqrt(qn || 1);
    const scoreOf = (sim: number) => single ? Math.min(1, sim) : toScore(margin, sim);
    // Cosine only for the winning group's entries: cheaper than accumulating it for every posting.
    const inGroup: { e: Entry; sim: number }[] = [];
    for (const e of members[top]!) {
      let dot = 0;
      for (const fid of e.fids) if (qstamp[fid] === stamp) dot += qweight[fid]!;
      if (dot > 0) inGroup.push({ e, sim: dot / (Math.sqrt(qnorm) * entryNorm(e)) });
    }
    if (inGroup.length === 0) return null;
    inGroup.sort((a, b) => b.sim - a.sim);
    let refused: GuardRefusal | undefined;
    for (const { e, sim } of inGroup) {
      const verdict = useGuard ? guardAllows(qGuard, e.guard) : true;
      const c = { id: e.id, group: groupName[top]!, score: scoreOf(sim), margin, similarity: sim };
      if (verdict === true) return { ...c, exact: false };
      refused ??= verdict;
    }
    const first = inGroup[0]!;
    return {
      id: first.e.id,
      group: groupName[top]!,
      score: scoreOf(first.sim),
      margin,
      similarity: first.sim,
      exact: false,
      refused: refused!,
    };
  }

  /** The `RANKED` best touched groups by smoothed log-likelihood, best first (one pass, insertion into a short
   * list: lookups touch up to every group, but only the head matters). */
  function topGroups(ng: number, qn: number): { g: number; s: number }[] {
    const out: { g: number; s: number }[] = [];
    for (let j = 0; j < ng; j++) {
      const g = gbuf[j]!;
      const s = gscore[g]! + qn * groupPrior[g]!;
      if (out.length === RANKED && s <= out[RANKED - 1]!.s) continue;
      let k = Math.min(out.length, RANKED - 1);
      out[k] = { g, s };
      for (; k > 0 && out[k - 1]!.s < s; k--) [out[k], out[k - 1]] = [out[k - 1]!, out[k]!];
    }
    return out;
  }

  return {
    add,
    remove,
    best,
    match(text, o = {}) {
      const c = best(text);
      if (!c || c.refused || c.score < (o.threshold ?? DEFAULT_THRESHOLD)) return null;
      return {
        id: c.id,
        group: c.group,
        score: c.score,
        margin: c.margin,
        similarity: c.similarity,
        exact: c.exact,
      };
    },
    get size() {
      return byId.size;
    },
    get features() {
      return fidOf.size;
    },
  };
}

// The subject check on a hit, the FAQ's and the cache's lexical tier's. Here, not in faq.ts: the cache cannot import
// faq.ts (it imports config.ts, which imports the cache).

const PRONOUNS = new Set(["it", "this", "that", "them", "they", "one"].map(stem));
const DETERMINERS = new Set(
  ["a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "this", "that", "these", "those"].map(stem),
);
/** A number before a noun stands where a determiner does: "12 *oak* street" for "12 *elm* street", "2 *pizzas*". */
const determines = (w: string) => DETERMINERS.has(w) || /^\p{N}+$/u.test(w);
/**
 * Before the object of a preposition: a noun put in place of the question's own ("free for *pensioners*" for "free
 * for *kids*"). Not "to", which is as often the infinitive's ("like to *order*").
 */
const PREPOSITIONS = new Set(
  ["for", "in", "on", "at", "with", "from", "about", "of", "by", "into", "before", "after"],
);
/**
 * Verbs asking the opposite of each other, or another thing done to the same object: how to remove a user is not how
 * to add one, and renewing a plan is not cancelling it. Stemmed as `tokenize` stems each form ("added" is "ad"), both
 * ways round.
 */
const OPPOSITES = new Set(
  `add remove|add delete|open close|start stop|enable disable|activate deactivate|lock unlock|subscribe unsubscribe|
  upgrade downgrade|increase decrease|buy sell|join leave|allow block|send receive|deposit withdraw|install uninstall|
  connect disconnect|import export|cancel renew|cancel pause|cancel resume|cancel extend|cancel change|cancel upgrade|
  cancel downgrade|cancel reactivate`.split("|").flatMap((pair) => {
    const forms = (v: string) => [v, `${v}s`, `${v.replace(/e$/, "")}ing`, `${v.replace(/e$/, "")}ed`];
    const [a, b] = pair.trim().split(" ").map((v) => new Set(forms(v).map(stem)));
    return [...a!].flatMap((x) => [...b!].flatMap((y) => [`${x} ${y}`, `${y} ${x}`]));
  }),
);

/**
 * The word by which `query` asks `question` about something else, or null. The two are aligned word by word (a
 * longest common subsequence of `tokenize`d words); where the query puts a noun in place of the question's own
 * ("How much does *shipping* cost?" for "How much does *it* cost?"), that noun must be one the entry knows (`known`:
 * the words of its questions and answer, a one-letter typo allowed in longer words). A verb put in place of its
 * opposite ("How do I *remove* employees?" for "How do I *add* employees?") is another question too. Words the query
 * only adds ("What plans do you have *for students*?") or leaves out are not a change of subject.
 *
 * @example
 * swappedSubject("How much does shipping cost?", "How much does it cost?", new Set(["plan"])) // → "ship"
 */
export function swappedSubject(query: string, question: string, known: ReadonlySet<string>): string | null {
  const q = tokenize(query);
  const e = tokenize(question);
  // lcs[i][j]: the longest common subsequence of q[i..] and e[j..].
  const lcs = Array.from({ length: q.length + 1 }, () => new Int32Array(e.length + 1));
  for (let i = q.length - 1; i >= 0; i--) {
    for (let j = e.length - 1; j >= 0; j--) {
      lcs[i]![j] = q[i] === e[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  if (lcs[0]![0] === 0) return null; // nothing in common: not an edit of this question
  let i = 0;
  let j = 0;
  let added: number[] = []; // positions in q
  let dropped: string[] = [];
  // A noun's place changed: the question loses a pronoun ("it") or one content word, and the query puts there one
  // content word, or two side by side ("express shipping"), after a determiner, for the pronoun, or for a word after
  // a preposition. Its last word names the subject. A verb swapped ("start" for "open" an account) unless for its
  // opposite, a longer rewording, or only "how do I" lost is a paraphrase; so is a compound written as one word
  // ("checkup" for "check up").
  const swapped = () => {
    const content = added.filter((k) => !FUNCTION_WORDS.has(q[k]!));
    const lost = dropped.filter((w) => !FUNCTION_WORDS.has(w));
    if (lost.length === 1) {
      const opposite = content.find((k) => OPPOSITES.has(`${lost[0]} ${q[k]}`) && !knownWord(q[k]!, known));
      if (opposite !== undefined) return q[opposite];
    }
    const lostPronoun = dropped.some((w) => PRONOUNS.has(w));
    if (content.length === 0 || content.length > 2 || lost.length > 1 || (lost.length === 0 && !lostPronoun)) return;
    const first = content[0]!;
    const head = content.at(-1)!;
    if (content.length === 2 && (head !== first + 1 || head !== added.at(-1))) return;
    if (dropped.some((w, k) => w + (dropped[k + 1] ?? "") === q[head])) return;
    // The preposition is both questions' (the word before what the query puts there): "have *for students*" for
    // "offer" only adds words; "for all *pensioners*" for "for *kids*" replaces one.
    const afterPreposition = lost.length === 1 && PREPOSITIONS.has(q[added[0]! - 1] ?? "");
    const nounPlace = lostPronoun || determines(q[first - 1] ?? "") || afterPreposition;
    return nounPlace && !knownWord(q[head]!, known) ? q[head] : undefined;
  };
  while (i < q.length || j < e.length) {
    if (i < q.length && j < e.length && q[i] === e[j]) {
      const w = swapped();
      if (w) return w;
      added = [];
      dropped = [];
      i++;
      j++;
    } else if (j < e.length && (i === q.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      dropped.push(e[j++]!);
    } else added.push(i++);
  }
  // The question ends at its verb ("How can I cancel?"): an object the query puts after it ("cancel *an invoice*")
  // names what is asked about, and one the entry does not know is another question.
  const object = added.filter((k) => !FUNCTION_WORDS.has(q[k]!));
  if (dropped.every((w) => FUNCTION_WORDS.has(w)) && DETERMINERS.has(q[added[0]!] ?? "") && object.length > 0) {
    const head = q[object.at(-1)!]!;
    if (!knownWord(head, known)) return head;
  }
  return swapped() ?? null;
}

function knownWord(w: string, known: ReadonlySet<string>): boolean {
  if (known.has(w)) return true;
  // A typo only in words of 5 letters or more: "tour" is not "hour", nor "plant" "plan".
  for (const k of known) if (Math.min(w.length, k.length) >= 5 && oneEdit(w, k)) return true;
  return false;
}

/** Whether `a` becomes `b` by one insertion, deletion, substitution or swap of neighbours. */
function oneEdit(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  let s = 0;
  while (s < a.length && s < b.length && a[s] === b[s]) s++;
  if (a.length !== b.length) {
    const [long, short] = a.length > b.length ? [a, b] : [b, a];
    return long.slice(s + 1) === short.slice(s);
  }
  if (s === a.length) return false; // equal
  if (a.slice(s + 1) === b.slice(s + 1)) return true;
  return a[s] === b[s + 1] && a[s + 1] === b[s] && a.slice(s + 2) === b.slice(s + 2);
}
