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
