/**
 * Splits a long reply into messages a platform accepts (Telegram and WhatsApp: 4,096 characters), cutting at
 * the best boundary that fits: a paragraph, then a line, then a sentence, then a word, and only as a last resort
 * mid-word (never inside what shows as one character: a surrogate pair, an emoji with its skin tone, a flag, a
 * letter with its combining marks).
 *
 * @module
 */

/** A sentence's end: Latin marks before whitespace; CJK full-width marks, which no space follows. */
const SENTENCE_END = /[.!?…](["')\]»”’]*)\s|[。！？](["')\]»”’」』]*)/g;
const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: "grapheme" });
/** Chinese and Japanese characters and their punctuation: these scripts put no spaces between words. */
const CJK = /^[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\u3000-\u303f\uff00-\uffef]/u;

/** The end of the last complete sentence in `text` (Latin or CJK, see `SENTENCE_END`), or -1. */
export function lastSentenceEnd(text: string): number {
  let best = -1;
  SENTENCE_END.lastIndex = 0;
  for (let m = SENTENCE_END.exec(text); m !== null; m = SENTENCE_END.exec(text)) best = m.index + m[0].length;
  return best;
}

/**
 * The last place after `from` where `text` may be cut right after a Chinese or Japanese character, or -1.
 * Those scripts put no spaces between words, so such a cut splits no word (a Latin word after it is left
 * whole). The cut is never after the text's last grapheme: in a text still being written, a variation
 * selector or a combining mark may yet join it.
 */
export function lastCjkBreak(text: string, from = 0): number {
  const segments = GRAPHEMES.segment(text);
  // Walks back from the end, since a streamed text asks after every chunk: CJK text stops at once.
  let next = text === "" ? undefined : segments.containing(text.length - 1);
  while (next && next.index > Math.max(from, 0)) {
    const prev = segments.containing(next.index - 1)!;
    if (CJK.test(prev.segment)) return next.index;
    next = prev;
  }
  return -1;
}

/** Where to cut `text` so the first piece has at most `limit` UTF-16 units; prefers natural boundaries. */
function cutPoint(text: string, limit: number): number {
  const window = text.slice(0, limit + 1);
  // A boundary in the first third would leave a tiny message; accept it only when nothing better exists.
  const floor = Math.floor(limit / 3);
  const paragraph = window.lastIndexOf("\n\n", limit);
  if (paragraph > floor) return paragraph + 2;
  const line = window.lastIndexOf("\n", limit);
  if (line > floor) return line + 1;
  const sentence = lastSentenceEnd(window.slice(0, limit));
  if (sentence > floor) return sentence;
  const space = Math.max(window.lastIndexOf(" ", limit), window.lastIndexOf("\t", limit));
  if (space > 0) return space + 1;
  // No boundary at all: cut hard, at the last whole character (grapheme) that fits. The segmenter reads the
  // whole text, not `window`: a tail cut at the limit (half a surrogate pair, a flag's first letter, the emoji
  // after a joiner) would read as a character of its own. The loop stops at the first grapheme past the limit.
  let cut = 0;
  for (const { index, segment } of GRAPHEMES.segment(text)) {
    if (index + segment.length > limit) break;
    cut = index + segment.length;
  }
  // A single grapheme longer than the limit (hundreds of combining marks) is cut between code points.
  if (cut > 0) return cut;
  const code = text.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
}

/**
 * Splits `text` into pieces of at most `limit` UTF-16 code units (what JavaScript's `length` counts; never fewer
 * characters than the platforms count). Pieces are trimmed; empty pieces are dropped.
 *
 * @example
 * ```ts
 * splitText("First paragraph.\n\nSecond one.", 20); // ["First paragraph.", "Second one."]
 * ```
 */
export function splitText(text: string, limit: number): string[] {
  if (limit < 2) throw new RangeError("splitText: limit must be at least 2");
  const parts: string[] = [];
  let rest = text.trim();
  while (rest.length > limit) {
    const cut = cutPoint(rest, limit);
    const piece = rest.slice(0, cut).trimEnd();
    if (piece !== "") parts.push(piece);
    rest = rest.slice(cut).trimStart();
  }
  if (rest !== "") parts.push(rest);
  return parts;
}
