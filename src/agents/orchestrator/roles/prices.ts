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
  /** "USD", or a family such as "$" when the symbol is ambiguous; undefined when unknown. */
  currency: string | undefined;
  /** Where it starts in the reply. */
  at: number;
  /** Set by `unknownPrices` for a catalogue price quoted for a product whose price it is not: that product. */
  product?: string;
}

const DOLLARS = ["USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"];
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
  dollar: "$",
  dollars: "$",
  bucks: "$",
  euro: "EUR",
  euros: "EUR",
  rupee: "INR",
  rupees: "INR",
  "rs.": "INR",
  quid: "GBP",
  yen: "JPY",
  yuan: "CNY",
  rubles: "RUB",
};
/** ISO codes, matched in capitals before an amount ("try 3 options" is not a price in Turkish lira). */
const CODES = (
  "USD EUR GBP JPY CNY INR RUB BRL CAD AUD CHF SEK NOK DKK PLN CZK MXN SGD HKD NZD ZAR TRY AED SAR KRW " +
  "ILS UAH HUF RON THB IDR PHP"
).split(" ");
/** After an amount a code may be in any case ("999 usd"), but for the ones that are also words. */
const LOWER_CODES = CODES.filter((c) => c !== "TRY" && c !== "PHP").map((c) => c.toLowerCase());

/** An amount: "1299", "1,299.00", "1.299,00", or with spaces between thousands ("1 299", "1 299,00"); "2k". */
const NUM = String.raw`(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d(?:[\d,.]*\d)?)(?:\s?[kK]\b)?`;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const variants = (s: string) => [...new Set([s, s.toUpperCase(), s.charAt(0).toUpperCase() + s.slice(1)])];

function pricePattern(extraCodes: readonly string[]): RegExp {
  const codes = [...new Set([...CODES, ...extraCodes])].join("|");
  const keys = Object.keys(SYMBOLS).flatMap(variants);
  const symbols = keys.filter((k) => !/^[A-Za-z]+$/.test(k)).sort((a, b) => b.length - a.length).map(esc)
    .join("|");
  const words = keys.filter((k) => /^[A-Za-z]+$/.test(k)).join("|");
  const before = `(?:${symbols}|\\b(?:${codes})\\b)`;
  const after = `(?:${symbols}|\\b(?:${codes}|${LOWER_CODES.join("|")}|${words})\\b)`;
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
  return SYMBOLS[token.toLowerCase()] ?? (/^[A-Za-z]{3}$/.test(token) ? token.toUpperCase() : undefined);
}

/** A discount: "20% off", "15 % discount", "a discount of 10%", in a few languages. */
const DISCOUNT = new RegExp(
  String.raw`(\d{1,2}(?:[.,]\d+)?)\s?%\s?(?:off|discount|rabatt|descuento|de descuento|remise|de remise|sconto)\b|` +
    String.raw`\b(?:discount|rabatt|descuento|remise|sconto)\s+(?:of\s+|von\s+|de\s+|di\s+)?(\d{1,2}(?:[.,]\d+)?)\s?%`,
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
    const amount = Number((m[1] ?? m[2] ?? "").replace(",", "."));
    out.push({ text: m[0].trim(), amount, currency: "%", at: m.index });
  }
  return out;
}

function sameCurrency(mentioned: string | undefined, product: string): boolean {
  if (mentioned === undefined || mentioned === product) return true;
  if (mentioned === "$") return DOLLARS.includes(product);
  if (mentioned === "¥") return product === "JPY" || product === "CNY";
  return false;
}

const hasPrice = (p: Product, m: PriceMention) =>
  Math.abs(p.price - m.amount) < 0.005 && sameCurrency(m.currency, p.currency);

/** Words of a product's name that do not tell it from another ("Pro with onboarding": "with"). */
const FILLER = new Set(["and", "for", "the", "with", "plan", "plans", "package", "tier", "edition", "bundle"]);
const PLAN_WORD = String.raw`(?:\s+(?:plan|package|tier|subscription|edition|bundle))?`;
/** Between a product's name and its price: "Pro is $29", "Pro plan costs only $29", "Pro: $29", "Pro at $29". */
const QUOTED_AS = String.raw`\s*(?:is|are|costs?|at|for|:|=|–|—|-)\s*(?:only\s+|just\s+)?`;

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

const nameAlternatives = (names: readonly { name: string }[]) => names.map((n) => esc(n.name)).join("|");

/**
 * The name a price is quoted for, when the reply says so right next to it: "Pro is $29", "Pro plan: $29", "Team
 * costs only $99", "$29 for the Pro plan". Undefined otherwise (a list, a comparison, a price far from any name).
 */
function quotedFor(text: string, m: PriceMention, names: readonly { name: string }[]): string | undefined {
  const alt = nameAlternatives(names);
  const before = new RegExp(`(?<![\\p{L}\\p{N}])(${alt})${PLAN_WORD}${QUOTED_AS}$`, "u")
    .exec(text.slice(Math.max(0, m.at - 120), m.at));
  const after = new RegExp(`^\\s+for\\s+(?:the\\s+)?(${alt})(?![\\p{L}\\p{N}])`, "u")
    .exec(text.slice(m.at + m.text.length, m.at + m.text.length + 120));
  return before?.[1] ?? after?.[1];
}

/** The products `clause` names (as `callNames` spells them). */
function namedIn(clause: string, names: readonly { name: string; p: Product }[]): Product[] {
  const found = clause.matchAll(new RegExp(`(?<![\\p{L}\\p{N}])(${nameAlternatives(names)})(?![\\p{L}\\p{N}])`, "gu"));
  return [...found].flatMap((f) => names.filter((n) => n.name === f[1]).map((n) => n.p));
}

/**
 * The prices in `text` (`findPrices`) that are not catalogue prices: no product has that amount in a compatible
 * currency, or the reply quotes it right next to the name of products whose price it is not, and no product named
 * earlier in its clause has it ("Pro is $49" when $49 is Team's price: `product` says which; but "Team includes
 * everything in Pro for $99" passes). A price not quoted next to a name (a list, a comparison) is checked by amount
 * and currency only.
 */
export function unknownPrices(
  text: string,
  catalogue: readonly Product[],
  extraCodes: readonly string[] = [],
): PriceMention[] {
  const names = callNames(catalogue);
  return findPrices(text, extraCodes).flatMap((m) => {
    if (!catalogue.some((p) => hasPrice(p, m))) return [m];
    const name = m.currency === "%" ? undefined : quotedFor(text, m, names);
    if (name === undefined) return [];
    const quoted = names.filter((n) => n.name === name).map((n) => n.p);
    // A clause ends at ; ! ? a line break, or a full stop before a capital ("e.g. for" goes on).
    const clause = text.slice(0, m.at).split(/[.!?](?=\s+\p{Lu})|[;!?\n]/u).pop()!;
    if ([...quoted, ...namedIn(clause, names)].some((p) => hasPrice(p, m))) return [];
    return [{ ...m, product: quoted[0]!.name }];
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
