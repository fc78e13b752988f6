/**
 * The guard: a similar-looking stored message is not the same question when a number, a name, a currency or
 * the negation differs ("price of plan 2" ≠ "price of plan 3", "I can't log in" ≠ "I can log in"). Text
 * similarity barely moves on such a change, so the matcher asks the guard before it returns an entry.
 *
 * @module
 */
import { extractGuardFeatures, type GuardFeatures } from "./normalize.ts";

/** Why the guard refused: which feature differs, and its value on each side. */
export interface GuardRefusal {
  readonly reason: "numbers" | "negation" | "names" | "currencies";
  readonly query: string;
  readonly candidate: string;
}

const show = (xs: readonly string[]) => xs.length === 0 ? "(none)" : xs.join(",");
const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Returns `true` when `candidate` may answer `query`, else the first difference found. Rules:
 * - numbers: the sets of numbers must be equal ("2 weeks" vs "3 weeks", and "2 weeks" vs "a week", refuse);
 * - negation: both negated or both not;
 * - currencies: the sets must be equal;
 * - names: each side's names must appear among the other side's words, in any case ("Pro plan" vs "pro
 *   plan" passes; "Pro plan" vs "Basic plan" or vs "the plan" refuses).
 * Pass precomputed `GuardFeatures` to avoid re-extracting a stored entry's features on every lookup.
 *
 * @example
 * guardAllows("price of plan 2", "price of plan 3") // → { reason: "numbers", query: "2", candidate: "3" }
 */
export function guardAllows(
  query: string | GuardFeatures,
  candidate: string | GuardFeatures,
): true | GuardRefusal {
  const q = typeof query === "string" ? extractGuardFeatures(query) : query;
  const c = typeof candidate === "string" ? extractGuardFeatures(candidate) : candidate;
  if (!sameList(q.numbers, c.numbers)) {
    return { reason: "numbers", query: show(q.numbers), candidate: show(c.numbers) };
  }
  if (q.negated !== c.negated) {
    return { reason: "negation", query: String(q.negated), candidate: String(c.negated) };
  }
  if (!sameList(q.currencies, c.currencies)) {
    return { reason: "currencies", query: show(q.currencies), candidate: show(c.currencies) };
  }
  const missing = (names: readonly string[], words: ReadonlySet<string>) => names.some((n) => !words.has(n));
  if (missing(q.names, c.words) || missing(c.names, q.words)) {
    return { reason: "names", query: show(q.names), candidate: show(c.names) };
  }
  return true;
}
