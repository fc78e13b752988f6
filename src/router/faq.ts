/**
 * The operator's FAQ: the zero-cost first tier. A JSON file of entries, each with a few ways people ask the
 * question and the one answer given verbatim:
 *
 * ```json
 * { "entries": [ { "id": "pricing", "questions": ["What plans do you have?", "pricing"], "answer": "…" } ] }
 * ```
 * `id` is optional (defaults to the entry's position). Matched with the same matcher as the cache, then checked for
 * a swapped subject (`swappedSubject`): "How much does shipping cost?" is worded like "How much does it cost?" but
 * asks about something the entry never mentions, and a verbatim answer to it would be wrong.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError, type ConfigIssue, duplicateKeyIssues, jsonError, toIssue } from "../config.ts";
import { createMatcher, DEFAULT_THRESHOLD, type Matcher } from "./matcher.ts";
import { FUNCTION_WORDS, stem, tokenize } from "./normalize.ts";

export const faqFileSchema = z.strictObject({
  entries: z.array(z.strictObject({
    id: z.string().min(1, "empty; name the entry or leave the id out").optional(),
    questions: z.array(z.string().min(1, "empty; write the question or remove it"))
      .min(1, "give at least one way to ask the question"),
    answer: z.string().min(1, "empty; write the answer"),
  })).superRefine((entries, ctx) => {
    const seen = new Set<string>();
    entries.forEach((entry, i) => {
      const id = entryId(entry, i);
      if (seen.has(id)) ctx.addIssue({ code: "custom", path: [i, "id"], message: `another entry has the id "${id}"` });
      seen.add(id);
    });
  }),
});

/** An entry's id: its own, or `faq-<position from 1>`. */
const entryId = (entry: { id?: string | undefined }, i: number) => entry.id ?? `faq-${i + 1}`;
export type FaqFile = z.infer<typeof faqFileSchema>;

/**
 * Reads and parses a role's FAQ file (`field`: its config path, `roles.<name>.faq`): the file, or what is wrong with
 * it as config issues, one per problem. `aideazz config check` reports them; the orchestrator refuses to start with
 * them.
 */
export async function readFaqFile(
  path: string,
  field: string,
  read: (path: string) => Promise<string>,
): Promise<{ faq: FaqFile } | { issues: ConfigIssue[] }> {
  let text: string;
  try {
    text = await read(path);
  } catch {
    return { issues: [{ path: field, message: `cannot read ${path}; fix the path (relative to the config file)` }] };
  }
  try {
    return { faq: parseFaq(text, path) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { issues: err.issues.map((i) => ({ path: field, message: `${i.path}: ${i.message}` })) };
  }
}

export interface FaqAnswer {
  id: string;
  answer: string;
  score: number;
}

export interface Faq {
  answer(text: string): FaqAnswer | null;
  readonly size: number;
}

/**
 * Parses a FAQ file's text; throws a ConfigError with one issue per problem, its path `source`, its message
 * naming the entry's field (`entries[1].questions: …`) as the config's own issues do.
 */
export function parseFaq(text: string, source = "FAQ file"): FaqFile {
  const body = text.replace(/^\uFEFF/, ""); // a byte-order mark, as some editors save
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    throw new ConfigError([{ path: source, message: `not valid JSON: ${jsonError(body, err as Error)}` }]);
  }
  // An entry's "answer" written twice: JSON.parse keeps the last, and the first would never be given.
  const twice = duplicateKeyIssues(body);
  const inFile = (i: ConfigIssue) => ({ path: source, message: `${i.path}: ${i.message}` });
  const parsed = faqFileSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw new ConfigError([...twice, ...parsed.error.issues.map(toIssue)].map(inFile));
  if (twice.length > 0) throw new ConfigError(twice.map(inFile));
  return parsed.data;
}

/** Builds the FAQ tier from a parsed file. */
export function createFaq(file: FaqFile, threshold = DEFAULT_THRESHOLD): Faq {
  const matcher: Matcher = createMatcher();
  const entries = new Map<string, { answer: string; known: Set<string> }>();
  /** Each matcher entry's question. */
  const questions = new Map<string, string>();
  file.entries.forEach((entry, i) => {
    const id = entryId(entry, i);
    entries.set(id, { answer: entry.answer, known: new Set([...entry.questions, entry.answer].flatMap(tokenize)) });
    entry.questions.forEach((q, j) => {
      questions.set(`${id}#${j}`, q);
      matcher.add(`${id}#${j}`, q, id, entry.answer);
    });
  });
  return {
    size: entries.size,
    answer(text) {
      const hit = matcher.match(text, { threshold });
      if (!hit) return null;
      const entry = entries.get(hit.group)!;
      if (!hit.exact && swappedSubject(text, questions.get(hit.id)!, entry.known) !== null) return null;
      return { id: hit.group, answer: entry.answer, score: hit.score };
    },
  };
}

const PRONOUNS = new Set(["it", "this", "that", "them", "they", "one"].map(stem));
const DETERMINERS = new Set(
  ["a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "this", "that", "these", "those"].map(stem),
);
/**
 * Before the object of a preposition: a noun put in place of the question's own ("free for *pensioners*" for "free
 * for *kids*"). Not "to", which is as often the infinitive's ("like to *order*").
 */
const PREPOSITIONS = new Set(["for", "in", "on", "at", "with", "from", "about", "of", "by", "into"]);
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
    const nounPlace = lostPronoun || DETERMINERS.has(q[first - 1] ?? "") || afterPreposition;
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
