/**
 * Constant-time checks of what platforms send us: a shared secret (Telegram's secret token) and an HMAC over the
 * raw body (WhatsApp's X-Hub-Signature-256). `node:crypto` (Deno and Node both have it), synchronous: a hash of
 * a webhook body takes microseconds, where Web Crypto's promise costs a trip through a worker thread per call.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest();

/**
 * Compares two strings in time independent of where they differ and of their lengths: both are hashed and the
 * digests compared in constant time.
 */
export function timingSafeEqualText(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** The key for `verifyHmacSha256Hex` (held as a KeyObject, not as the secret's string). */
export function hmacKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, "utf8"));
}

/** True when `signatureHex` is HMAC-SHA256(key, body) of exactly these bytes, compared in constant time. */
export function verifyHmacSha256Hex(key: KeyObject, body: Uint8Array, signatureHex: string): boolean {
  if (!/^(?:[0-9a-fA-F]{2}){32}$/.test(signatureHex)) return false;
  return timingSafeEqual(createHmac("sha256", key).update(body).digest(), Buffer.from(signatureHex, "hex"));
}
