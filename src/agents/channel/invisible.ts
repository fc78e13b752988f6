/**
 * Characters a chat app shows as nothing: format characters on their own (zero-width space and joiners, soft
 * hyphen, word joiner, bidi and tag characters) and the blanks that look like a letter or nothing (Hangul
 * fillers, the Braille blank). Two texts that differ only by them read the same on screen.
 *
 * @module
 */

/** The invisible characters, as the body of a character class for a pattern with the `u` flag. */
export const INVISIBLE = String.raw`\p{Cf}\u2800\u3164\u115f\u1160\uffa0`;

const INVISIBLE_RUN = new RegExp(`[${INVISIBLE}]+`, "gu");

/**
 * `text` without its invisible characters: what a reader sees, ready to compare with other text.
 *
 * @example
 * stripInvisible("in\u00ADstruc\u200Btions") // "instructions"
 */
export function stripInvisible(text: string): string {
  return text.replace(INVISIBLE_RUN, "");
}

/** What a zero-width (non-)joiner joins when it is part of the spelling: letters, marks, digits, emoji. */
const JOINS = /^[\p{L}\p{M}\p{N}\p{Emoji}]$/u;

/**
 * `text` without its invisible characters but a lone zero-width non-joiner or joiner between two of what they join:
 * Persian writes می‌خواهم with a non-joiner, Indic scripts and emoji sequences (👩‍💻) use the joiner. What a user
 * wrote is kept as written; the reader sees what the model reads.
 *
 * @example
 * keepSpelling("می\u200Cخواهم in\u200Bstructions") // "می\u200Cخواهم instructions"
 */
export function keepSpelling(text: string): string {
  return text.replace(INVISIBLE_RUN, (run: string, at: number) => {
    if (run !== "\u200C" && run !== "\u200D") return "";
    const before = [...text.slice(Math.max(0, at - 2), at)].at(-1) ?? "";
    const after = String.fromCodePoint(text.codePointAt(at + 1) ?? 0x20);
    return JOINS.test(before) && JOINS.test(after) ? run : "";
  });
}
