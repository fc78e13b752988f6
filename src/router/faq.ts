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
import { createMatcher, DEFAULT_THRESHOLD, type Matcher, swappedSubject } from "./matcher.ts";
import { tokenize } from "./normalize.ts";

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
