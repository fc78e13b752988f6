/**
 * Text normalization shared by the router's exact tier, its fuzzy matcher and its guard.
 *
 * The exact tier hashes `normalizeText(s)`, so two messages that differ only in form (width, case, spacing,
 * punctuation, a leading "hi", a trailing "thanks") hit the same cached answer. The rules never drop words that
 * change meaning: negations, numbers, names and currencies survive normalization, and the guard reads them.
 *
 * @module
 */

/** Typographic apostrophes and accents people type instead of `'`. */
const APOSTROPHES = /[\u2018\u2019\u201B\u02BC\u0060\u00B4\u2032]/g;

// deno-fmt-ignore
/** Single number words → digits, so "two weeks" and "2 weeks" normalize alike. "one" is left alone: it is
 * usually a pronoun ("I need a new one"), and turning it into "1" would make the guard see a number. */
const NUMBER_WORDS: Readonly<Record<string, string>> = {
  zero: "0", two: "2", three: "3", four: "4", five: "5", six: "6", seven: "7", eight: "8", nine: "9",
  ten: "10", eleven: "11", twelve: "12", thirteen: "13", fourteen: "14", fifteen: "15", sixteen: "16",
  seventeen: "17", eighteen: "18", nineteen: "19", twenty: "20", thirty: "30", forty: "40", fifty: "50",
  sixty: "60", seventy: "70", eighty: "80", ninety: "90", hundred: "100", thousand: "1000",
  million: "1000000",
};

// deno-fmt-ignore
/** Openers removed from the start of a message (longest first, repeatedly): they carry no question. */
const LEADING = [
  "good morning", "good afternoon", "good evening", "good day", "hi there", "hello there", "hey there",
  "hello team", "hi team", "hey team", "hello all", "hi all", "hello everyone", "hi everyone",
  "dear support", "dear team", "excuse me", "hi", "hello", "hey", "heya", "hiya", "howdy", "greetings", "yo",
  "ok", "okay", "so", "well", "um", "uh", "erm", "hmm",
];
// deno-fmt-ignore
/** Closers removed from the end of a message (longest first, repeatedly). */
const TRAILING = [
  "thanks in advance", "thank you very much", "thank you so much", "many thanks", "thanks a lot",
  "thank you", "thanks", "thank u", "thx", "ty", "cheers",
];
/** Politeness and hesitation words removed anywhere: "please" never changes which answer is right. */
const ANYWHERE = new Set(["please", "pls", "plz", "kindly", "um", "uh", "erm", "hmm"]);

const byLength = (phrases: readonly string[]) =>
  phrases.map((p) => p.split(" ")).sort((a, b) => b.length - a.length);
const LEADING_WORDS = byLength(LEADING);
const TRAILING_WORDS = byLength(TRAILING);

function stripPhrases(words: string[], split: readonly string[][], atStart: boolean): string[] {
  let out = words;
  for (let changed = true; changed && out.length > 0;) {
    changed = false;
    for (const p of split) {
      const at = atStart ? 0 : out.length - p.length;
      if (at < 0 || !p.every((w, i) => out[at + i] === w)) continue;
      out = atStart ? out.slice(p.length) : out.slice(0, at);
      changed = true;
      break;
    }
  }
  return out;
}

/**
 * Normalizes a message for exact-match lookup. Rules, in order:
 * 1. Unicode NFKC: full-width letters, ligatures and compatibility forms become their plain form ("ｆｉ" → "fi");
 *    digits of every script become ASCII digits ("٥٠٠" → "500").
 * 2. Typographic apostrophes (’ ‘ ʼ ` ´) become `'`; then everything is lower-cased (locale-independent).
 * 3. Apostrophes inside words are dropped ("can't" → "cant", "card's" → "cards"); other apostrophes are spaces.
 * 4. Digit-group commas are dropped ("1,000" → "1000"); a decimal without its leading zero gets it (".5" → "0.5");
 *    a `.`, `,`, `:` or `/` between digits stays ("1.5", "10:30", "12/1").
 * 5. Punctuation and symbols become spaces, except currency symbols and `%`, which stay as their own words.
 * 6. Whitespace runs (any Unicode space, tabs, newlines) collapse to one space; the ends are trimmed.
 * 7. Single number words become digits ("two" → "2", "twenty" → "20"; not "one", see `NUMBER_WORDS`).
 * 8. Greetings and openers at the start are removed ("hi there", "good morning", "ok so"), repeatedly.
 * 9. Thanks at the end are removed ("thanks in advance", "thank you", "cheers"), repeatedly.
 * 10. "please", "pls", "plz", "kindly" and hesitations ("um", "uh", "erm", "hmm") are removed anywhere.
 * 11. If rules 8–10 would leave nothing ("hello!"), the text after rule 7 is returned instead.
 * Negations, numbers, names and currencies are never removed: the guard needs them.
 *
 * @example
 * normalizeText("Ｈｉ there!!  Can’t I  pay in £, please? Thanks") // → "cant i pay in £"
 */
export function normalizeText(s: string): string {
  const words = normalizedWords(s);
  const core = coreWords(words);
  return (core.length > 0 ? core : words).join(" ");
}

/** Rules 1–7 of `normalizeText`: its words before openers, thanks and politeness are removed. */
function normalizedWords(s: string): string[] {
  const t = s.normalize("NFKC").replace(/(?![0-9])\p{Nd}/gu, asciiDigit)
    .replace(APOSTROPHES, "'").toLowerCase()
    .replace(/(\p{L})'(?=\p{L})/gu, "$1")
    .replace(/(\d),(?=\d{3}(?!\d))/g, "$1")
    .replace(/(?<![\p{L}\p{N}.])\.(?=\d)/gu, "0.")
    .replace(/(\p{Sc}|%)/gu, " $1 ")
    .replace(/(?<!\d)[.,:/]|[.,:/](?!\d)/g, " ")
    .replace(/[^\p{L}\p{N}\p{M}\p{Sc}%.,:/]+/gu, " ")
    .trim();
  return t === "" ? [] : t.split(" ").map((w) => NUMBER_WORDS[w] ?? w);
}

/** A digit of another script as its ASCII digit ("٥" → "5"): Unicode codes each script's 0–9 as one run. */
function asciiDigit(d: string): string {
  let zero = d.codePointAt(0)!;
  while (/\p{Nd}/u.test(String.fromCodePoint(zero - 1))) zero--;
  return String((d.codePointAt(0)! - zero) % 10); // % 10: two scripts' runs are side by side at U+116D0
}

/** Rules 8–10: without openers, thanks and politeness. */
function coreWords(words: string[]): string[] {
  return stripPhrases(stripPhrases(words, LEADING_WORDS, true), TRAILING_WORDS, false).filter((w) => !ANYWHERE.has(w));
}

/** Words that acknowledge or take leave: with greetings and thanks, a message of them asks nothing. */
const ACKNOWLEDGEMENTS = new Set(
  "ok okay great cool nice good fine perfect awesome alright sure yes yeah yep no nope got it bye goodbye see you later lol wow"
    .split(" "),
);
/** Words a greeting opens with ("hi", "good morning", "dear team"). */
const GREETINGS = new Set(["hi", "hello", "hey", "heya", "hiya", "howdy", "greetings", "yo", "good", "dear"]);

/**
 * What a message of greetings, thanks and acknowledgements only is: `greeting` when it opens with one ("Hi!",
 * "Hello there"), else `closing` ("Thanks!", "ok great 👍", "bye"); undefined when it asks or says anything else.
 *
 * @example
 * smallTalk("Thanks, great!") // → "closing"
 * smallTalk("I forgot my username") // → undefined
 */
export function smallTalk(s: string): "greeting" | "closing" | undefined {
  const words = normalizedWords(s);
  if (coreWords(words).some((w) => !ACKNOWLEDGEMENTS.has(w))) return undefined;
  return GREETINGS.has(words[0] ?? "") ? "greeting" : "closing";
}

/**
 * A light English suffix stripper (plural, -ing, -ed, -ly, final silent e). Not Porter: it only has to make
 * "charged", "charges" and "charging" meet, and it keeps words of three letters or fewer intact.
 *
 * @example
 * stem("transfers") // → "transfer"
 */
export function stem(w: string): string {
  if (w.length <= 3 || !/^\p{L}+$/u.test(w)) return w;
  if (w.endsWith("ies") && w.length > 4) return w.slice(0, -3) + "y";
  if (w.endsWith("sses")) return w.slice(0, -2);
  if (w.endsWith("ss") || w.endsWith("us") || w.endsWith("is")) return w;
  if (w.endsWith("ing") && w.length > 5) return dropE(undouble(w.slice(0, -3)));
  if (w.endsWith("ed") && w.length > 4) return dropE(undouble(w.slice(0, -2)));
  if (w.endsWith("ly") && w.length > 4) return w.slice(0, -2);
  if (/(?:ch|sh|x|z|s)es$/.test(w)) return w.slice(0, -2);
  return dropE(w.endsWith("s") ? w.slice(0, -1) : w);
}

/** "charge", "charged" and "charging" all end as "charg": a final silent e is dropped from longer stems. */
function dropE(w: string): string {
  return w.length >= 4 && w.endsWith("e") ? w.slice(0, -1) : w;
}

/** "stopped" → "stopp" → "stop": a doubled final consonant left by -ed/-ing is undone. */
function undouble(w: string): string {
  return /([bdgmnprt])\1$/.test(w) ? w.slice(0, -1) : w;
}

/** Words that say nothing of what a question is about (stemmed as `tokenize` stems). */
export const FUNCTION_WORDS = new Set(
  `a an the i me my mine we us our you your yours he him his she her it its they them their this that these those
  there here is am are was were be been being do does did doing done have has had having can could will would shall
  should may might must get got getting want need like know tell how what when where which who whom whose why much
  many any some all each every no not of to for in on at by with from about into onto over under up down out off as
  if or and but so than then too very just also still again ever yet already else more most less own same other
  another such one cant dont doesnt didnt wont isnt arent im ive id youre whats hows wheres theres lets able way
  thing something anything someone ok okay yes help question possible`.split(/\s+/).map(stem),
);

/** The stems of a `normalizeText` result's words that say what it is about: no function words. */
export function contentStems(normalized: string): Set<string> {
  const out = new Set<string>();
  for (const w of normalized.split(" ")) {
    const s = stem(w);
    if (s !== "" && !FUNCTION_WORDS.has(s)) out.add(s);
  }
  return out;
}

/**
 * Splits a message into stemmed matcher tokens (after `normalizeText`).
 *
 * @example
 * tokenize("Hi, my cards were charged twice!") // → ["my", "card", "wer", "charg", "twic"]
 */
export function tokenize(s: string): string[] {
  const n = normalizeText(s);
  return n === "" ? [] : n.split(" ").map(stem);
}

/** What the guard compares: the parts of a message whose change changes the right answer. */
export interface GuardFeatures {
  /** Canonical numbers, sorted and unique ("2,000" → "2000", "two" → "2", "3rd" → "3"), with a letter suffix other
   * than an ordinal's ("9am", "5k"). */
  readonly numbers: readonly string[];
  /** True when the message contains a negation cue (not, no, never, can't / cant, without, unable, …). */
  readonly negated: boolean;
  /** Lower-cased names and entities: capitalized words not opening a sentence, acronyms ("Pro", "UK"), and days
   * and months in any case. */
  readonly names: readonly string[];
  /** ISO-like currency codes from symbols, codes and words ("$", "usd", "dollars" → "usd"), sorted, unique. */
  readonly currencies: readonly string[];
  /** Every lower-cased word, so a name on one side can be found in lower case on the other. */
  readonly words: ReadonlySet<string>;
}

// deno-fmt-ignore
const NEGATIONS = new Set([
  "not", "no", "never", "none", "nothing", "nobody", "nowhere", "neither", "nor", "without", "cannot",
  "cant", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "havent", "hasnt", "hadnt", "wont",
  "wouldnt", "couldnt", "shouldnt", "mustnt", "neednt", "aint", "unable", "unavailable", "impossible",
]);

// deno-fmt-ignore
/** Currency spellings → one code. `$` and "dollar" mean USD here: a message naming another dollar also names
 * its country, which the names check sees. Lower-case codes are listed only where they are not English words. */
const CURRENCIES: Readonly<Record<string, string>> = {
  "$": "usd", usd: "usd", dollar: "usd", dollars: "usd", "€": "eur", eur: "eur", euro: "eur", euros: "eur",
  "£": "gbp", gbp: "gbp", pound: "gbp", pounds: "gbp", quid: "gbp", "¥": "jpy", jpy: "jpy", yen: "jpy",
  cny: "cny", yuan: "cny", rmb: "cny", "₹": "inr", inr: "inr", rupee: "inr", rupees: "inr", chf: "chf",
  franc: "chf", francs: "chf", cad: "cad", aud: "aud", nzd: "nzd", sek: "sek", nok: "nok", dkk: "dkk",
  pln: "pln", czk: "czk", huf: "huf", "₽": "rub", rub: "rub", ruble: "rub", rubles: "rub", rouble: "rub",
  "₩": "krw", krw: "krw", won: "krw", "₺": "try", lira: "try", "₪": "ils", ils: "ils", shekel: "ils",
  mxn: "mxn", peso: "mxn", pesos: "mxn", brl: "brl", real: "brl", reais: "brl", hkd: "hkd", sgd: "sgd",
  zar: "zar", rand: "zar", aed: "aed", dirham: "aed", "₿": "btc", btc: "btc", bitcoin: "btc", bitcoins: "btc",
};
/** Upper-case-only codes whose lower-case form is an English word ("try", "all"). */
const UPPER_CODES: Readonly<Record<string, string>> = { TRY: "try", ALL: "all", REAL: "brl", WON: "krw" };

// deno-fmt-ignore
/** Words that are often capitalized mid-message without naming anything. */
const NOT_NAMES = new Set(["i", "im", "ive", "id", "ill", "ok", "okay", "hi", "hello", "hey", "thanks", "please"]);

// deno-fmt-ignore
/** Sentence openers that are never the first word of a name ("Is Apple Pay…", "Can Visa…"). */
const OPENERS = new Set([
  "a", "an", "the", "is", "are", "was", "can", "could", "do", "does", "did", "how", "what", "when", "where",
  "why", "which", "who", "will", "would", "should", "my", "your", "our", "if", "in", "on", "for", "to",
  "with", "and", "but", "so", "yes", "no", "not", "please", "there", "this", "that", "it", "have", "has",
  "am", "i",
]);

/** Days and months, names however they are typed ("open on monday?"); not "may" and "march", more often verbs. */
const DATE_NAMES =
  /^(?:(?:mon|tues|wednes|thurs|fri|satur|sun)days?|january|february|april|june|july|august|september|october|november|december)$/;

/**
 * Extracts what the guard compares. Names are capitalized words that do not open a sentence, acronyms, a
 * sentence opener directly followed by another capitalized word ("Apple Pay"), and days and months. When more than
 * 60% of at least three words inside sentences are capitalized (Title Case Or SHOUTING), capitals say nothing: only
 * acronyms of 2–5 letters (and days and months) are kept.
 *
 * @example
 * extractGuardFeatures("I can't see the Pro plan for $20")
 * // → { numbers: ["20"], negated: true, names: ["pro"], currencies: ["usd"], words: Set {…} }
 */
export function extractGuardFeatures(s: string): GuardFeatures {
  const raw = s.normalize("NFKC").replace(APOSTROPHES, "'");
  const norm = normalizeText(raw).split(" ").filter((w) => w !== "");
  const numbers = new Set<string>();
  for (const w of norm) {
    for (const [, n, suffix] of w.matchAll(/(\d+(?:[.,:/]\d+)*)(\p{L}*)/gu)) {
      const number = /^\d+(?:\.\d+)?$/.test(n!) ? String(Number(n)) : n!;
      numbers.add(/^(?:st|nd|rd|th)$/.test(suffix!) ? number : number + suffix);
    }
  }
  const currencies = new Set<string>();
  for (const w of norm) if (CURRENCIES[w] !== undefined) currencies.add(CURRENCIES[w]);
  const tokens = [...raw.matchAll(/[\p{L}\p{N}]+(?:'[\p{L}]+)?|[.!?\n]/gu)].map((m) => m[0]);
  for (const t of tokens) if (UPPER_CODES[t] !== undefined) currencies.add(UPPER_CODES[t]);
  return {
    numbers: [...numbers].sort(),
    negated: norm.some((w) => NEGATIONS.has(w)),
    names: findNames(tokens),
    currencies: [...currencies].sort(),
    words: new Set(norm),
  };
}

function findNames(tokens: readonly string[]): string[] {
  const capital = (t: string) => /^\p{Lu}/u.test(t);
  const acronym = (t: string) => /^\p{Lu}{2,5}$/u.test(t);
  const inner = tokens.filter((t, i) => /\p{L}/u.test(t) && i > 0 && !/^[.!?\n]$/.test(tokens[i - 1]!))
    .filter((t) => !NOT_NAMES.has(t.toLowerCase().replace(/'/g, "")));
  const shouting = inner.length >= 3 && inner.filter(capital).length > inner.length * 0.6;
  const names = new Set<string>();
  let opener = true;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (/^[.!?\n]$/.test(t)) {
      opener = true;
      continue;
    }
    const key = t.toLowerCase().replace(/'/g, "");
    const next = tokens[i + 1];
    const isName = DATE_NAMES.test(key) || (shouting ? acronym(t) : acronym(t) ||
      (capital(t) && (!opener || (next !== undefined && capital(next) && !OPENERS.has(key)))));
    if (isName && !NOT_NAMES.has(key) && CURRENCIES[key] === undefined && UPPER_CODES[t] === undefined) {
      names.add(key);
    }
    opener = false;
  }
  return [...names].sort();
}
