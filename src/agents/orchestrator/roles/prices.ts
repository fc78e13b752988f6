/**
 * The sales price guard: finds every price-like amount in a reply (a number next to a currency symbol, code or
 * word) and checks it against the catalogue, so a model's invented price never reaches a customer. Amounts
 * without a currency ("3 days", "2 licences") are not prices. Totals and discounts the catalogue does not list
 * are refused too: the guard is deliberately literal.
 *
 * @module
 */
import type { Product } from "./config.ts";

export interface PriceMention {
  /** As written in the reply, e.g. "$1,299.00". */
  text: string;
  amount: number;
  /** "USD", or a family such as "$" or "kr" when the symbol is ambiguous; undefined when unknown. */
  currency: string | undefined;
  /** Where it starts in the reply. */
  at: number;
  /** Set by `unknownPrices` for a catalogue price quoted for a product whose price it is not: that product. */
  product?: string;
}

const DOLLARS = ["USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"];
/** Symbols several currencies share: a price in one matches a product in any of them. */
const FAMILIES: Record<string, readonly string[]> = {
  "$": DOLLARS,
  "¥": ["JPY", "CNY"],
  kr: ["SEK", "NOK", "DKK", "ISK"],
  rs: ["INR", "PKR", "LKR", "NPR"],
};
const membersOf = (currency: string) => FAMILIES[currency] ?? [currency];
/** Symbols and words (matched lowercase, capitalized or uppercase) and the currency or family they name. */
const SYMBOLS: Record<string, string> = {
  "us$": "USD",
  "ca$": "CAD",
  "c$": "CAD",
  "a$": "AUD",
  "au$": "AUD",
  "nz$": "NZD",
  "r$": "BRL",
  "hk$": "HKD",
  "$": "$",
  "€": "EUR",
  "£": "GBP",
  "¥": "¥",
  "₹": "INR",
  "₽": "RUB",
  "₩": "KRW",
  "₺": "TRY",
  "₪": "ILS",
  "₴": "UAH",
  "₱": "PHP",
  "円": "JPY",
  "zł": "PLN",
  dollar: "$",
  dollars: "$",
  "us dollar": "USD",
  "us dollars": "USD",
  "canadian dollars": "CAD",
  "australian dollars": "AUD",
  bucks: "$",
  euro: "EUR",
  euros: "EUR",
  rupee: "INR",
  rupees: "INR",
  "rs.": "rs",
  quid: "GBP",
  yen: "JPY",
  yuan: "CNY",
  rubles: "RUB",
};
/**
 * Currency words that are also something else ("5 pounds of coffee", "RS-232", "TL;DR"): a price only when
 * the catalogue uses them.
 */
const CATALOGUE_WORDS: Record<string, string> = {
  pound: "GBP",
  pounds: "GBP",
  kr: "kr",
  rs: "rs",
  tl: "TRY",
};
/** Of those, the abbreviations also written before the amount ("Rs 5900", "kr 590"). */
const CATALOGUE_PREFIXES = ["kr", "rs", "tl"];
/** ISO codes, matched in capitals before an amount ("try 3 options" is not a price in Turkish lira). */
const CODES = (
  "USD EUR GBP JPY CNY INR RUB BRL CAD AUD CHF SEK NOK DKK PLN CZK MXN SGD HKD NZD ZAR TRY AED SAR KRW " +
  "ILS UAH HUF RON THB IDR PHP"
).split(" ");
/** Codes that are also words ("try 3 options", "supports PHP 8"): a price only when the catalogue uses them. */
const WORD_CODES = ["TRY", "PHP"];
/** After an amount a code may be in any case ("999 usd"), but for the ones that are also words. */
const LOWER_CODES = CODES.filter((c) => !WORD_CODES.includes(c)).map((c) => c.toLowerCase());

/** An amount: "1299", "1,299.00", "1.299,00", or with spaces between thousands ("1 299", "1 299,00"); "2k". */
const NUM = String.raw`(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d(?:[\d,.]*\d)?)(?:\s?[kK]\b)?`;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** As written lowercase, uppercase, capitalized, or with its first word uppercase ("US dollars"). */
const variants = (s: string) => [
  ...new Set([
    s,
    s.toUpperCase(),
    s.charAt(0).toUpperCase() + s.slice(1),
    s.replace(/^\S+/, (w) => w.toUpperCase()),
  ]),
];

function pricePattern(extraCodes: readonly string[]): RegExp {
  const codes = [...new Set([...CODES.filter((c) => !WORD_CODES.includes(c)), ...extraCodes])].join("|");
  const catalogueWords = Object.keys(CATALOGUE_WORDS).filter((w) =>
    membersOf(CATALOGUE_WORDS[w]!).some((c) => extraCodes.includes(c))
  );
  const prefixes = CATALOGUE_PREFIXES.filter((w) => catalogueWords.includes(w)).flatMap(variants);
  const keys = [...Object.keys(SYMBOLS), ...catalogueWords].flatMap(variants);
  const symbols = keys.filter((k) => !/^[A-Za-z]+$/.test(k)).sort((a, b) => b.length - a.length).map(esc)
    .join("|");
  const words = keys.filter((k) => /^[A-Za-z]+$/.test(k)).join("|");
  // Not inside a word ("hours. 7 days" is no "rs. 7"); a code may touch its digits ("USD59", "39USD").
  const before = `(?<![A-Za-z\\d])(?:${symbols}|(?:${[codes, ...prefixes].join("|")})(?![A-Za-z]))`;
  const after = `(?:${symbols}|(?<![A-Za-z])(?:${codes}|${LOWER_CODES.join("|")}|${words})\\b)`;
  return new RegExp(`(${before})\\s?(${NUM})|(${NUM})\\s?(${after})`, "g");
}

/** Parses "1,299.00", "1.299,00", "29,99", "2k" as numbers. */
export function parseAmount(raw: string): number | undefined {
  let s = raw.replace(/\s/g, "");
  let factor = 1;
  if (/[kK]$/.test(s)) {
    factor = 1000;
    s = s.slice(0, -1);
  }
  const lastComma = s.lastIndexOf(",");
  const lastDot = s.lastIndexOf(".");
  if (lastComma >= 0 && lastDot >= 0) {
    const decimal = lastComma > lastDot ? "," : ".";
    s = s.replace(decimal === "," ? /\./g : /,/g, "").replace(",", ".");
  } else if (lastComma >= 0) {
    s = /^\d{1,3}(,\d{3})+$/.test(s) ? s.replace(/,/g, "") : s.replace(",", ".");
  } else if (lastDot >= 0 && /^\d{1,3}(\.\d{3})+$/.test(s)) {
    // "1.299", "5.000": thousands (a price with three decimals is not a thing).
    s = s.replace(/\./g, "");
  }
  const n = Number(s);
  return Number.isFinite(n) ? n * factor : undefined;
}

function toCurrency(token: string): string | undefined {
  const t = token.toLowerCase();
  return SYMBOLS[t] ?? CATALOGUE_WORDS[t] ?? (/^[A-Za-z]{3}$/.test(token) ? token.toUpperCase() : undefined);
}

/** A percentage: "20%", "15 %", "20 percent", "20 per cent", "20 pct". */
const PCT = String.raw`\d{1,2}(?:[.,]\d+)?\s?(?:%|percent\b|per\s?cent\b|pct\b)`;
/**
 * A discount: "20% off", "20 percent cheaper", "a 20% reduction", "a discount of 10%", "save 20%", "pay 20%
 * less", "-20%", in a few languages. A percentage alone is none ("99.9% uptime", "100% of our customers"),
 * nor is "save 40% of your team's time" or "uses 20% less memory".
 */
const DISCOUNT = new RegExp(
  [
    String.raw`${PCT}\s?(?:off|discount|cheaper|reduction|rabatt|descuento|de descuento|remise|de remise|` +
    String.raw`sconto)\b`,
    String.raw`\b(?:discount|reduction|rabatt|descuento|remise|sconto)\s+(?:of\s+|von\s+|de\s+|di\s+)?${PCT}`,
    String.raw`\bsave\s+(?:up\s+to\s+)?${PCT}(?!\s*of\b)`,
    String.raw`\b(?:pay|costs?)\s+(?:only\s+)?${PCT}\s?less\b`,
    // Not a range's second figure ("10-20%").
    String.raw`(?<![\w.]\s?)[-−]${PCT}`,
  ].join("|"),
  "gi",
);

/**
 * Every price-like amount in `text`, in order, then every discount (currency "%": no catalogue product has it, so
 * a discount is always refused).
 */
export function findPrices(text: string, extraCodes: readonly string[] = []): PriceMention[] {
  const out: PriceMention[] = [];
  for (const m of text.matchAll(pricePattern(extraCodes))) {
    const [all, curBefore, numBefore, numAfter, curAfter] = m;
    const amount = parseAmount(numBefore ?? numAfter ?? "");
    if (amount === undefined) continue;
    out.push({ text: all.trim(), amount, currency: toCurrency(curBefore ?? curAfter ?? ""), at: m.index });
  }
  for (const m of text.matchAll(DISCOUNT)) {
    const amount = Number(/\d+(?:[.,]\d+)?/.exec(m[0])![0].replace(",", "."));
    out.push({ text: m[0].trim(), amount, currency: "%", at: m.index });
  }
  return out;
}

function sameCurrency(mentioned: string | undefined, product: string): boolean {
  return mentioned === undefined || membersOf(mentioned).includes(product);
}

const hasPrice = (p: Product, m: PriceMention) =>
  Math.abs(p.price - m.amount) < 0.005 && sameCurrency(m.currency, p.currency);

/** Words of a product's name that do not tell it from another ("Pro with onboarding": "with"). */
const FILLER = new Set(["and", "for", "the", "with", "plan", "plans", "package", "tier", "edition", "bundle"]);
const PLAN_WORD = String.raw`(?:\s+(?:plan|package|tier|subscription|edition|bundle))?`;
/**
 * From a product's name to its price: "Pro is $29", "Pro plan costs only $29", "Pro is now priced at $29", "Pro will
 * cost $29", "Pro: $29", "Pro at $29"; the link word is captured ("is", "are", "cost(s)" say whose price it is).
 */
const NAME_TO_PRICE = new RegExp(
  String.raw`^${PLAN_WORD}\s*(?:now\s+|currently\s+)?(is|are|costs?|will\s+cost|at|for|:|=|–|—|-)` +
    String.raw`(?:\s+(?:now|currently|priced\s+at|only|just))*\s*$`,
  "u",
);
/** From a price to a product's name: "$29 for the Pro plan". */
const PRICE_TO_NAME = /^\s+for\s+(?:the\s+)?$/;
/** Where a clause ends: ; ! ? a line break, or a full stop before a capital ("e.g. for" goes on). */
const CLAUSE_END = /[.!?](?=\s+\p{Lu})|[;!?\n]/u;

/**
 * What a product is called in a reply, spelt as in the catalogue (a common noun such as "team" is not the "Team"
 * plan): its name, and each word of it (3+ letters, not a filler) no other product's name has ("Starter" for
 * "Starter plan" beside "Pro plan"), longest first.
 */
function callNames(catalogue: readonly Product[]): { name: string; p: Product }[] {
  const wordsOf = (p: Product) =>
    p.name.split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 2 && !FILLER.has(w.toLowerCase()));
  const shared = (w: string, p: Product) =>
    catalogue.some((q) => q !== p && q.name.toLowerCase().includes(w.toLowerCase()));
  return catalogue.flatMap((p) => [p.name, ...wordsOf(p).filter((w) => !shared(w, p))].map((name) => ({ name, p })))
    .sort((a, b) => b.name.length - a.name.length);
}

interface NameHit {
  start: number;
  end: number;
  name: string;
}

/** Where `text` names products (as `callNames` spells them, the longest name at each place), in order. */
function nameHits(text: string, names: readonly { name: string }[]): NameHit[] {
  if (names.length === 0) return [];
  const alt = names.map((n) => esc(n.name)).join("|");
  const re = new RegExp(`(?<![\\p{L}\\p{N}])(?:${alt})(?![\\p{L}\\p{N}])`, "gu");
  return [...text.matchAll(re)].map((m) => ({ start: m.index, end: m.index + m[0].length, name: m[0] }));
}

/**
 * The name a price is quoted for, when the reply says so right next to it ("Pro is $29", "$29 for the Pro plan"),
 * and whether a verb links them ("is", "costs": then the price is plainly that product's). Undefined otherwise (a
 * list, a comparison, a price far from any name).
 */
function quotedFor(
  text: string,
  m: PriceMention,
  hits: readonly NameHit[],
): { name: string; verb: boolean } | undefined {
  const end = m.at + m.text.length;
  const before = hits.findLast((h) => h.end <= m.at);
  const link = before && NAME_TO_PRICE.exec(text.slice(before.end, m.at));
  if (before && link) return { name: before.name, verb: /^(?:is|are|costs?|will\s+cost)$/.test(link[1]!) };
  const after = hits.find((h) => h.start >= end);
  return after && PRICE_TO_NAME.test(text.slice(end, after.start)) ? { name: after.name, verb: false } : undefined;
}

/**
 * The prices in `text` (`findPrices`) that are not catalogue prices: no product has that amount in a compatible
 * currency, or the reply quotes it right next to the name of products whose price it is not ("Pro is $49" when $49
 * is Team's price: `product` says which). Linked by "for", "at" or a colon rather than a verb, the price may be for a
 * product named earlier in its clause (since the price before it): "Team includes everything in Pro for $99" passes.
 * A price not quoted next to a name (a list, a comparison) is checked by amount and currency only. The names are
 * found once per reply.
 */
export function unknownPrices(
  text: string,
  catalogue: readonly Product[],
  extraCodes: readonly string[] = [],
): PriceMention[] {
  const names = callNames(catalogue);
  const productsOf = (name: string) => names.filter((n) => n.name === name).map((n) => n.p);
  const mentions = findPrices(text, extraCodes);
  const hits = nameHits(text, names);
  return mentions.flatMap((m) => {
    if (!catalogue.some((p) => hasPrice(p, m))) return [m];
    const q = m.currency === "%" ? undefined : quotedFor(text, m, hits);
    if (q === undefined) return [];
    const candidates = productsOf(q.name);
    if (!q.verb) {
      const from = Math.max(0, ...mentions.filter((o) => o.at < m.at).map((o) => o.at + o.text.length));
      const clauseAt = m.at - text.slice(from, m.at).split(CLAUSE_END).pop()!.length;
      for (const h of hits) if (h.start >= clauseAt && h.end <= m.at) candidates.push(...productsOf(h.name));
    }
    return candidates.some((p) => hasPrice(p, m)) ? [] : [{ ...m, product: candidates[0]!.name }];
  });
}

/** "29 USD", "1299.50 EUR": the form the bot itself uses (the guard accepts it). */
export function formatPrice(p: Product): string {
  return `${Number.isInteger(p.price) ? String(p.price) : p.price.toFixed(2)} ${p.currency}`;
}

const words = (s: string) => new Set(s.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 2));

/**
 * The deterministic reply when a model keeps inventing prices: the products whose names share words with
 * `context` (the question and the refused reply), else the whole catalogue (at most 10), with their real prices.
 */
export function catalogueReply(intro: string, catalogue: readonly Product[], context: string): string {
  const seen = words(context);
  const scored = catalogue.map((p) => ({ p, hits: [...words(p.name)].filter((w) => seen.has(w)).length }));
  const best = Math.max(0, ...scored.map((s) => s.hits));
  const chosen = (best > 0 ? scored.filter((s) => s.hits === best).map((s) => s.p) : [...catalogue]).slice(
    0,
    10,
  );
  const lines = chosen.map((p) =>
    `- ${p.name}: ${formatPrice(p)}${p.description ? ` (${p.description})` : ""}`
  );
  return [intro, ...lines].join("\n");
}
