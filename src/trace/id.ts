/**
 * Trace ids: 32 lowercase hex digits (128 random bits, the W3C trace-id format, so an OpenTelemetry exporter can
 * carry them unchanged). `aideazz trace` also accepts a unique prefix of 6 or more digits.
 *
 * @module
 */

export type RandomBytes = (n: number) => Uint8Array;

const cryptoBytes: RandomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

/**
 * A new trace id; channel agents call it once per inbound message and pass it on in `PublishInput.traceId`.
 *
 * @example
 * ```ts
 * const traceId = newTraceId(); // "4bf92f3577b34da6a3ce929d0e0e4736"
 * ```
 */
export function newTraceId(random: RandomBytes = cryptoBytes): string {
  return [...random(16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** True for a full trace id or a prefix `aideazz trace` accepts. */
export function isTraceIdOrPrefix(text: string): boolean {
  return /^[0-9a-f]{6,32}$/.test(text);
}
