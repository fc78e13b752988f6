/**
 * Redaction by value: every configured secret is removed wherever it appears (a Telegram token inside a Bot API
 * URL inside an error message, a key echoed by a proxy), not only in fields whose name looks secret.
 *
 * @module
 */

export const REDACTED = "[redacted]";

/** Secrets shorter than this are not matched by value (they would blank out ordinary words). */
const MIN_SECRET_LENGTH = 6;

/**
 * Returns a function that replaces every form of every secret in a text: raw, JSON-escaped (once, or twice: a JSON
 * string inside a logged JSON field), URL-encoded (upper- or lower-case hex, or as a form value: `+` for a space).
 */
export function createRedactor(secrets: readonly string[]): (text: string) => string {
  const forms = new Set<string>();
  const json = (t: string) => JSON.stringify(t).slice(1, -1);
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    const encoded = encodeURIComponent(s);
    forms.add(s);
    forms.add(json(s));
    forms.add(json(json(s)));
    forms.add(encoded);
    forms.add(encoded.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
    forms.add(new URLSearchParams({ s }).toString().slice(2));
  }
  // Longest first, so a secret containing another is replaced whole.
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  if (ordered.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const form of ordered) out = out.split(form).join(REDACTED);
    return out;
  };
}

/** How a secret is shown in `config check`: never its value, only that it is set and how long it is. */
export function describeSecret(value: string | undefined): string {
  return value === undefined || value === "" ? "(not set)" : `set, ${value.length} chars, ${REDACTED}`;
}
