/**
 * The operator's FAQ: the zero-cost first tier. A JSON file of entries, each with a few ways people ask the
 * question and the one answer given verbatim:
 *
 * ```json
 * { "entries": [ { "id": "pricing", "questions": ["What plans do you have?", "pricing"], "answer": "…" } ] }
 * ```
 * `id` is optional (defaults to the entry's position). Matched with the same matcher as the cache.
 *
 * @module
 */
import { z } from "zod";
import { createMatcher, DEFAULT_THRESHOLD, type Matcher } from "./matcher.ts";

export const faqFileSchema = z.strictObject({
  entries: z.array(z.strictObject({
    id: z.string().min(1).optional(),
    questions: z.array(z.string().min(1)).min(1, "give at least one way to ask the question"),
    answer: z.string().min(1),
  })),
});
export type FaqFile = z.infer<typeof faqFileSchema>;

/**
 * Reads and parses a role's FAQ file (`field`: its config path, `roles.<name>.faq`): the file, or what is wrong with
 * it as a config issue. `aideazz config check` reports it; the orchestrator refuses to start with it.
 */
export async function readFaqFile(
  path: string,
  field: string,
  read: (path: string) => Promise<string>,
): Promise<{ faq: FaqFile } | { issue: { path: string; message: string } }> {
  let text: string;
  try {
    text = await read(path);
  } catch {
    return { issue: { path: field, message: `cannot read ${path}; fix the path (relative to the config file)` } };
  }
  try {
    return { faq: parseFaq(text, path) };
  } catch (err) {
    return { issue: { path: field, message: (err as Error).message } };
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

/** Parses a FAQ file's text; throws an Error naming the invalid field. */
export function parseFaq(text: string, source = "FAQ file"): FaqFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON: ${(err as Error).message}`);
  }
  const parsed = faqFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${source}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data;
}

/** Builds the FAQ tier from a parsed file. */
export function createFaq(file: FaqFile, threshold = DEFAULT_THRESHOLD): Faq {
  const matcher: Matcher = createMatcher();
  const answers = new Map<string, string>();
  file.entries.forEach((entry, i) => {
    const id = entry.id ?? `faq-${i + 1}`;
    answers.set(id, entry.answer);
    entry.questions.forEach((q, j) => matcher.add(`${id}#${j}`, q, id));
  });
  return {
    size: answers.size,
    answer(text) {
      const hit = matcher.match(text, { threshold });
      if (!hit) return null;
      return { id: hit.group, answer: answers.get(hit.group)!, score: hit.score };
    },
  };
}
