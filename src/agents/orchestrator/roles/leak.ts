/**
 * The instruction-leak check (RELIABILITY.md F2): a reply that contains a long run of the role's system prompt —
 * verbatim up to case, punctuation and spacing, or base64-encoded — is refused. Runs of `LEAK_MIN_CHARS`
 * normalized characters are compared; a prompt shorter than `LEAK_MIN_PROMPT` has nothing worth protecting.
 *
 * @module
 */

export const LEAK_MIN_CHARS = 40;
const LEAK_MIN_PROMPT = 20;

/** Lowercase letters and digits, every other run of characters one space. */
export function normalizeForLeak(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim();
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
  const windows = new Map<number, Set<string>>();
  for (const secret of secrets) {
    const s = normalizeForLeak(secret);
    if (s.length < LEAK_MIN_PROMPT) continue;
    const k = Math.min(minChars, s.length);
    const set = windows.get(k) ?? new Set<string>();
    for (let i = 0; i + k <= s.length; i++) set.add(s.slice(i, i + k));
    windows.set(k, set);
  }
  const contains = (text: string) => {
    const t = normalizeForLeak(text);
    for (const [k, set] of windows) {
      for (let i = 0; i + k <= t.length; i++) if (set.has(t.slice(i, i + k))) return true;
    }
    return false;
  };
  return (reply) => windows.size > 0 && (contains(reply) || decodeBase64Runs(reply).some(contains));
}
