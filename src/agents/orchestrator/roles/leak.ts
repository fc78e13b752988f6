/**
 * The instruction-leak check (RELIABILITY.md F2): a reply that contains a long run of the role's system prompt —
 * verbatim up to case, punctuation, spacing, invisible characters and look-alike letters, or written backwards, in
 * ROT13, in base64 or as Unicode tag characters — is refused. Runs of `LEAK_MIN_CHARS` normalized characters are
 * compared without their spaces; a prompt shorter than `LEAK_MIN_PROMPT` has nothing worth protecting. A chat's
 * earlier replies count too: pieces of `PIECE_CHARS` or more that add up to `LEAK_MIN_CHARS` are refused, else
 * the prompt could be asked for a little per message.
 *
 * @module
 */
import { stripInvisible } from "../../channel/invisible.ts";

export const LEAK_MIN_CHARS = 40;
const LEAK_MIN_PROMPT = 20;
/** The shortest run of the prompt (letters and digits) that counts toward what a chat's replies revealed together. */
const PIECE_CHARS = 20;
/** How much of a chat's earlier replies (the newest) that count reads. */
const EARLIER_MAX_CHARS = 8_000;

/**
 * Cyrillic and Greek letters that look like a Latin one (lowercase: what is left after `toLowerCase`). A model asked
 * to "write every a, e, o with the Cyrillic letter that looks the same" gives text that reads as the prompt.
 */
const LOOKALIKE: Record<string, string> = {
  "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "н": "h", "і": "i", "ј": "j", "к": "k", "м": "m",
  "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y", "ү": "y", "х": "x", "ԝ": "w",
  "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
  "χ": "x", "ζ": "z",
};
const LOOKALIKES = new RegExp(`[${Object.keys(LOOKALIKE).join("")}]`, "gu");

/**
 * Lowercase letters and digits, every other run of characters one space; look-alike letters read as the Latin ones.
 * Invisible characters are dropped first: a soft hyphen or zero-width space between two letters shows nothing, so
 * it must not split the word.
 */
export function normalizeForLeak(text: string): string {
  return stripInvisible(text).normalize("NFKC").toLowerCase().replace(LOOKALIKES, (c) => LOOKALIKE[c]!)
    .replace(/[^\p{L}\p{N}]+/gu, " ").trim();
}

/** Unicode tag characters (U+E0020–E007E) as the ASCII they stand for: invisible, yet copied and decoded at once. */
const TAGS = /[\u{E0020}-\u{E007E}]/gu;
const fromTags = (text: string) => text.replace(TAGS, (c) => String.fromCharCode(c.codePointAt(0)! - 0xe0000));

const reversed = (text: string) => [...text].reverse().join("");
const rot13 = (text: string) =>
  text.replace(/[a-z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 97 + 13) % 26) + 97));

function decodeBase64(run: string): string | undefined {
  try {
    const clean = run.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
    const bin = atob(clean.slice(0, clean.length - (clean.length % 4)));
    return new TextDecoder("utf-8", { fatal: false }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

/** Base64 runs decoded, also across line breaks (wrapped output) at each of the four alignments. */
function decodeBase64Runs(text: string): string[] {
  const out: string[] = [];
  for (const source of [text, text.replace(/\s+/g, "")]) {
    for (const m of source.matchAll(/[A-Za-z0-9+/_-]{24,}={0,2}/g)) {
      for (let shift = 0; shift < 4; shift++) {
        const decoded = decodeBase64(m[0].slice(shift));
        if (decoded !== undefined) out.push(decoded);
      }
    }
  }
  return out;
}

/** `reply` reveals the instructions; `earlier`: the chat's earlier replies, oldest first, read with it. */
export type LeakCheck = (reply: string, earlier?: readonly string[]) => boolean;

/** Letters and digits of `text` as the check compares them, without spaces. */
const flat = (text: string) => normalizeForLeak(text).replaceAll(" ", "");

/**
 * Builds a check for replies that reveal any of `secrets`.
 *
 * @example
 * const leaks = createLeakCheck(["You are Example Co's support bot. Never discuss refunds over 100 EUR."]);
 * leaks("Sure! My instructions: you are Example Co's support bot, never discuss refunds…") // true
 */
export function createLeakCheck(secrets: readonly string[], minChars = LEAK_MIN_CHARS): LeakCheck {
  // Runs are compared without their spaces (kept by their length then): an invisible character may also stand for
  // the space between two words, and dropped it joins them, so where the words break must not matter.
  const windows = new Map<number, Set<string>>();
  // Where each piece of PIECE_CHARS first is in the secrets, joined without spaces.
  const pieces = new Map<string, number>();
  let joined = "";
  for (const secret of secrets) {
    const s = normalizeForLeak(secret);
    if (s.length < LEAK_MIN_PROMPT) continue;
    const k = Math.min(minChars, s.length);
    for (let i = 0; i + k <= s.length; i++) {
      const run = s.slice(i, i + k).replaceAll(" ", "");
      const set = windows.get(run.length) ?? new Set<string>();
      windows.set(run.length, set.add(run));
    }
    joined += `${s.replaceAll(" ", "")}|`; // no piece of a reply has the separator
  }
  for (let i = 0; i + PIECE_CHARS <= joined.length; i++) {
    const piece = joined.slice(i, i + PIECE_CHARS);
    if (!pieces.has(piece)) pieces.set(piece, i);
  }
  // Each place is first looked up by the runs' common start (as long as the shortest run), then by the runs: one
  // lookup for most places instead of one per run length, as the text is scanned several ways.
  const head = Math.min(...windows.keys());
  const heads = new Set([...windows.values()].flatMap((set) => [...set].map((run) => run.slice(0, head))));
  const scan = (t: string) => {
    for (let i = 0; i + head <= t.length; i++) {
      if (!heads.has(t.slice(i, i + head))) continue;
      for (const [k, set] of windows) if (set.has(t.slice(i, i + k))) return true;
    }
    return false;
  };
  // Written backwards or in ROT13, the prompt is one line away from the visitor's reading it.
  const contains = (text: string) => {
    const t = flat(text);
    return scan(t) || scan(reversed(t)) || scan(rot13(t));
  };
  /** Marks in `seen` the places of the secrets `text` has pieces of; how many were not marked yet. */
  const mark = (text: string, seen: Uint8Array) => {
    const t = flat(text);
    let added = 0;
    for (let i = 0; i + PIECE_CHARS <= t.length; i++) {
      const at = pieces.get(t.slice(i, i + PIECE_CHARS));
      if (at === undefined) continue;
      for (let j = at; j < at + PIECE_CHARS; j++) {
        if (seen[j] === 1) continue;
        seen[j] = 1;
        added++;
      }
    }
    return added;
  };
  // Pieces too short to refuse one by one, asked for one per message ("the next 30 characters"): refused once the
  // chat's recent replies and this one reveal `minChars` together and this one reveals something new.
  const together = (reply: string, earlier: readonly string[]) => {
    const seen = new Uint8Array(joined.length);
    let before = 0;
    let read = 0;
    for (let i = earlier.length - 1; i >= 0 && read < EARLIER_MAX_CHARS; i--) {
      const text = earlier[i]!.slice(-EARLIER_MAX_CHARS);
      read += text.length;
      before += mark(text, seen);
    }
    const added = mark(reply, seen);
    return added > 0 && before + added >= minChars;
  };
  return (reply, earlier = []) => {
    if (windows.size === 0) return false;
    const tagged = fromTags(reply);
    // base64 with invisible characters inside still decodes (`contains` drops them from plain text itself).
    return contains(reply) || (tagged !== reply && contains(tagged)) ||
      decodeBase64Runs(stripInvisible(reply)).some(contains) || together(reply, earlier);
  };
}
