/**
 * The instruction-leak check (RELIABILITY.md F2): a reply that contains a long run of the role's system prompt —
 * verbatim up to case, punctuation, spacing and invisible characters, or base64-encoded — is refused. Runs of
 * `LEAK_MIN_CHARS` normalized characters are compared without their spaces; a prompt shorter than
 * `LEAK_MIN_PROMPT` has nothing worth protecting.
 *
 * @module
 */
import { stripInvisible } from "../../channel/invisible.ts";

export const LEAK_MIN_CHARS = 40;
const LEAK_MIN_PROMPT = 20;

/**
 * Lowercase letters and digits, every other run of characters one space. Invisible characters are dropped first:
 * a soft hyphen or zero-width space between two letters shows nothing, so it must not split the word.
 */
export function normalizeForLeak(text: string): string {
  return stripInvisible(text).normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim();
}

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

export type LeakCheck = (reply: string) => boolean;

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
  for (const secret of secrets) {
    const s = normalizeForLeak(secret);
    if (s.length < LEAK_MIN_PROMPT) continue;
    const k = Math.min(minChars, s.length);
    for (let i = 0; i + k <= s.length; i++) {
      const run = s.slice(i, i + k).replaceAll(" ", "");
      const set = windows.get(run.length) ?? new Set<string>();
      windows.set(run.length, set.add(run));
    }
  }
  const contains = (text: string) => {
    const t = normalizeForLeak(text).replaceAll(" ", "");
    for (const [k, set] of windows) {
      for (let i = 0; i + k <= t.length; i++) if (set.has(t.slice(i, i + k))) return true;
    }
    return false;
  };
  // base64 with invisible characters inside still decodes (`contains` drops them from plain text itself).
  return (reply) => windows.size > 0 && (contains(reply) || decodeBase64Runs(stripInvisible(reply)).some(contains));
}
