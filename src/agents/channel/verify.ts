/**
 * Constant-time checks of what platforms send us: a shared secret (Telegram's secret token) and an HMAC over the
 * raw body (WhatsApp's X-Hub-Signature-256). Web Crypto only, so the same code runs under Deno and Node.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Compares two strings in time independent of where they differ and of their lengths: both are hashed and the
 * digests compared with a full XOR pass.
 */
export async function timingSafeEqualText(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

/** Imports an HMAC-SHA256 key for `verifyHmacSha256Hex`. */
export function importHmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * True when `signatureHex` is HMAC-SHA256(key, body) of exactly these bytes. `crypto.subtle.verify` compares in
 * constant time.
 */
export function verifyHmacSha256Hex(
  key: CryptoKey,
  body: Uint8Array<ArrayBuffer>,
  signatureHex: string,
): Promise<boolean> {
  const signature = hexToBytes(signatureHex);
  if (signature === undefined || signature.length !== 32) return Promise.resolve(false);
  return crypto.subtle.verify("HMAC", key, signature, body);
}
