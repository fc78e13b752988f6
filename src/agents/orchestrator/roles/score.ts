/**
 * The lead score: points per collected field (`leads.weights`), with three heuristics — a budget earns full
 * points when it states a figure at or above `minBudget` (a quarter below it, half without a figure), a timeline
 * full points when it is within `urgentDays` (half when later or vague), a contact full points when it is an
 * e-mail address or a phone number (half otherwise). Default weights sum to 100; qualified at `threshold`.
 *
 * @module
 */
import type { LeadField, LeadsConfig } from "./config.ts";
import { parseAmount } from "./prices.ts";

export type LeadFields = Partial<Record<LeadField, string>>;

const DAY_MS = 86_400_000;
/** A month's name or its usual abbreviation, whole ("dec", "december"; not "decide", "marketing"). */
const MONTH_NAMES = [
  "jan(uary)?", "feb(ruary)?", "mar(ch)?", "apr(il)?", "may", "june?", "july?", "aug(ust)?", "sept?(ember)?",
  "oct(ober)?", "nov(ember)?", "dec(ember)?",
].map((m) => new RegExp(`\\b${m}\\b`));
const MAY = 4;

/**
 * The first figure in a budget ("$5,000", "5.000 €", "R$ 2.500,00", "€1 000 000", "5k", "50 thousand", "2 million",
 * "10-20k EUR", "between 10 and 20k" → 10000), read as the price guard reads amounts; undefined without one.
 */
export function budgetAmount(budget: string): number | undefined {
  const text = budget.replace(/(?<=\d)\s*(?:thousand|grand)\b/gi, "k")
    .replace(/(?<=\d)\s*(?:million|mio|mln)\b/gi, "m")
    .replace(/(?<=\d)\s+(?=\d{3}\b)/g, "");
  const m = /(\d[\d,.]*)\s*([kKmM])?\b/.exec(text);
  if (!m) return undefined;
  const n = parseAmount(m[1]!.replace(/[.,]$/, ""));
  if (n === undefined) return undefined;
  const unit = m[2]?.toLowerCase();
  // "10-20k", "10 to 20k", "between 10 and 20k": a range's first figure takes the unit of the second.
  const rangeUnit = unit
    ? undefined
    : /^\s*(?:[-–]|to\b|and\b)\s*\d[\d,.]*\s*([kKmM])\b/i.exec(text.slice(m.index + m[0].length))?.[1]
      ?.toLowerCase();
  const u = unit ?? rangeUnit;
  return n * (u === "k" ? 1_000 : u === "m" ? 1_000_000 : 1);
}

/**
 * A negated urgency, up to two words apart: "not now", "not really urgent", "nothing urgent", "no rush for
 * now", "not needed right now", "not yet". A comma ends it ("not sure, we need it now" is urgent), and "yet" only
 * counts after "not" ("ASAP, we have no website yet" is urgent).
 */
const NOT_URGENT = new RegExp(
  String.raw`\b(?:not|no|nothing)(?:\s+\w+){0,2}?\s+(?:urgent(?:ly)?|now|hurry|rush|asap|immediately)\b|\bnot\s+yet\b`,
);

/** A period's count in words ("in two weeks", "within a month", "in a couple of weeks"). */
const COUNT_WORDS: Record<string, number> = {
  a: 1, an: 1, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, "a couple of": 2, "a few": 3,
};
const PERIOD = new RegExp(
  String.raw`\b(?:(\d+(?:[.,]\d+)?)\s*|(${Object.keys(COUNT_WORDS).sort((x, y) => y.length - x.length).join("|")})\s+)` +
    String.raw`(hour|hr|h|day|week|month|year)s?\b`,
);

/**
 * Days until a timeline is due ("asap" 0, "within 48 hours" 2, "in 3 weeks" 21, "next quarter" 90, "March",
 * "Q1 next year" or "March 2028" → days to it). A stated period wins over words ("not right now, maybe in 6
 * months" → 180), a later year over "now" ("next year; for now we compare offers" → 365), and a negated urgency
 * ("not now", "nothing urgent") is not urgent.
 */
export function timelineDays(timeline: string, now: number): number | undefined {
  const t = timeline.toLowerCase();
  const n = PERIOD.exec(t);
  if (n) {
    const count = n[1] === undefined ? COUNT_WORDS[n[2]!]! : Number(n[1].replace(",", "."));
    const unit = n[3]!;
    // Hours are the most urgent period: whole days, rounded up ("within 48 hours" 2, "in 5 hours" 1).
    if (unit.startsWith("h")) return Math.ceil(count / 24);
    return Math.ceil(count * { day: 1, week: 7, month: 30, year: 365 }[unit as "day" | "week" | "month" | "year"]);
  }
  if (NOT_URGENT.test(t)) return 365;
  // A later year or "someday" wins over "now" / "today" beside it ("next year, for now just gathering quotes"):
  // those words say what the visitor does at present, not when the work is due.
  const year = statedYear(t, now);
  const later = (year !== undefined && year > new Date(now).getUTCFullYear()) || /\b(someday|eventually)\b/.test(t);
  if (!later) {
    if (/\b(asap|urgent|immediately|right away|now|today|tomorrow|this week)\b/.test(t)) return 0;
    if (/\bnext week\b/.test(t)) return 7;
    if (/\b(this|next) month\b|\bwithin a month\b/.test(t)) return 30;
    if (/\b(this|next) quarter\b/.test(t)) return 90;
  }
  // "Q4" may be months away and "Q1 next year" more: the quarter's own first day, not a fixed 90 days.
  const quarter = /\bq([1-4])\b/.exec(t);
  if (quarter) return daysTo((Number(quarter[1]) - 1) * 3, 3, now, year);
  if (/\b(next year|someday|eventually|not sure|no rush)\b/.test(t)) return 365;
  // "We may start in December": "may" is a month only when no other month is named.
  const named = MONTH_NAMES.map((m, i) => (m.test(t) ? i : -1)).filter((i) => i >= 0);
  const month = named.find((i) => i !== MAY) ?? named[0] ?? -1;
  if (month >= 0) return daysTo(month, 1, now, year);
  return undefined;
}

/** The year a timeline names ("next year", "2028"), if any. */
function statedYear(t: string, now: number): number | undefined {
  if (/\bnext year\b/.test(t)) return new Date(now).getUTCFullYear() + 1;
  const year = /\b(20\d\d)\b/.exec(t)?.[1];
  return year === undefined ? undefined : Number(year);
}

/**
 * Days to the first day of `month` (0–11) of `year`; without one, this year's, or next year's when the period
 * starting there (`months` long) is over. 0 while the period runs (or is past).
 */
function daysTo(month: number, months: number, now: number, year: number | undefined): number {
  const thisYear = new Date(now).getUTCFullYear();
  const over = Date.UTC(thisYear, month + months, 1) <= now;
  const due = Date.UTC(year ?? (over ? thisYear + 1 : thisYear), month, 1);
  return Math.max(0, Math.round((due - now) / DAY_MS));
}

/** An e-mail address or a phone number (7+ digits). */
export function isReachable(contact: string): boolean {
  return /[^\s@]+@[^\s@]+\.[a-z]{2,}/i.test(contact) || (contact.match(/\d/g)?.length ?? 0) >= 7;
}

/**
 * Scores collected fields.
 *
 * @example
 * scoreLead({ name: "Ann", need: "a chatbot", budget: "$5k", contact: "ann@acme.io" }, leadsSchema.parse({}), Date.now())
 * // 10 + 20 + 20 + 20 = 70
 */
export function scoreLead(fields: LeadFields, cfg: LeadsConfig, now: number): number {
  const w = cfg.weights;
  let score = 0;
  if (fields.name) score += w.name;
  if (fields.company) score += w.company;
  if (fields.need) score += w.need;
  if (fields.budget) {
    const amount = budgetAmount(fields.budget);
    score += amount === undefined ? w.budget / 2 : amount >= cfg.minBudget ? w.budget : w.budget / 4;
  }
  if (fields.timeline) {
    const days = timelineDays(fields.timeline, now);
    score += days !== undefined && days <= cfg.urgentDays ? w.timeline : w.timeline / 2;
  }
  if (fields.contact) score += isReachable(fields.contact) ? w.contact : w.contact / 2;
  return Math.round(score);
}
