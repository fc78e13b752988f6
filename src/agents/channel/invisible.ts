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
