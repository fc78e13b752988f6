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
  /** Set by `unknownPrices` for a catalogue price quoted for another product: the product its sentence names. */
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

/**
 * The products `sentence` names: by their whole name, or by a word of it (3+ letters) no other product's name has
 * ("Starter" for "Starter plan" beside "Pro plan"); whole words, any case. A name inside a longer one found there
 * does not count ("Pro" in "Pro yearly").
 */
function productsNamed(sentence: string, catalogue: readonly Product[]): Product[] {
  const wordsOf = (p: Product) => p.name.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 2);
  const found = catalogue.flatMap((p) => {
    const own = wordsOf(p).filter((w) => !catalogue.some((q) => q !== p && wordsOf(q).includes(w)));
    return [p.name, ...own].flatMap((name) =>
      [...sentence.matchAll(new RegExp(`(?<![\\p{L}\\p{N}])${esc(name)}(?![\\p{L}\\p{N}])`, "giu"))]
        .map((m) => ({ p, start: m.index, end: m.index + m[0].length }))
    );
  });
  const inLonger = (a: (typeof found)[number]) =>
    found.some((b) => b.p !== a.p && b.end - b.start > a.end - a.start && b.start <= a.start && a.end <= b.end);
  return [...new Set(found.filter((f) => !inLonger(f)).map((f) => f.p))];
}

/**
 * The prices in `text` (`findPrices`) that are not catalogue prices: no product has that amount in a compatible
 * currency, or its sentence names one product only and the amount is another product's price, not that one's ("Pro
 * is $49" when Team costs $49: `product` says which). A sentence naming several products (or none) is not
 * attributed: a list of prices passes as long as each price is in the catalogue.
 */
export function unknownPrices(
  text: string,
  catalogue: readonly Product[],
  extraCodes: readonly string[] = [],
): PriceMention[] {
  return findPrices(text, extraCodes).flatMap((m) => {
    if (!catalogue.some((p) => hasPrice(p, m))) return [m];
    const from = Math.max(...[...text.slice(0, m.at).matchAll(/[.!?](?=\s)|\n/g)].map((b) => b.index + 1), 0);
    const next = /[.!?](?=\s|$)|\n/.exec(text.slice(m.at + m.text.length));
    const end = next ? m.at + m.text.length + next.index : text.length;
    const named = productsNamed(text.slice(from, end), catalogue);
    return named.length === 1 && !hasPrice(named[0]!, m) ? [{ ...m, product: named[0]!.name }] : [];
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
