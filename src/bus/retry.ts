/**
 * Retry delays for failed handlers: exponential with equal jitter (a random value in [d/2, d]), then capped. Full
 * jitter would spread retries wider but can make a later delay shorter than an earlier one; equal jitter keeps
 * the sequence non-decreasing (RELIABILITY.md C3: "delays grow") while still de-synchronizing consumers. The cap comes
 * after the jitter: jitter within the cap would draw a later delay from [max/2, max], below an earlier max.
 *
 * @module
 */

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
}

/** Delay before attempt `attempt + 1`, after attempt `attempt` (1-based) failed. `random` returns [0, 1). */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number): number {
  const exp = policy.baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 52);
  return Math.round(Math.min(policy.maxMs, exp / 2 + random() * (exp / 2)));
}

/**
 * The text stored as a dead letter's last error, `redact`ed before it is cut at 2,000 characters (a secret on the cut
 * would no longer match). Well-formed: it reaches SQLite inside JSON, whose escape of a lone surrogate (a cut through
 * an emoji, or one in the error itself) SQLite decodes into bytes that are not UTF-8, and libsql aborts the process
 * that reads them back (each claim of the message reads it).
 */
export function errorText(err: unknown, redact: (text: string) => string = (t) => t): string {
  const text = redact(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  return (text.length > 2_000 ? `${text.slice(0, 2_000)}…` : text).toWellFormed();
}
