/**
 * The WhatsApp webhook routes. GET: the verification handshake (`hub.mode=subscribe` and the right
 * `hub.verify_token` → 200 with exactly `hub.challenge`; anything else → 403 without echoing). POST: the
 * signature (`X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body bytes with the app secret,
 * compared in constant time) is checked before anything is parsed; then the whole batch is committed in one
 * bus publish and answered 200 — or nothing is committed and the answer is non-2xx, so Meta retries.
 *
 * @module
 */
import type { KeyObject } from "node:crypto";
import type { Context, Hono } from "hono";
import type { Logger } from "../../log.ts";
import { failedRequest } from "../runtime.ts";
import { timingSafeEqualText, verifyHmacSha256Hex } from "../channel/verify.ts";
import { type WaWebhook, webhookSchema } from "./payload.ts";

export const SIGNATURE_HEADER = "X-Hub-Signature-256";
/** Meta sends at most 3 MB; anything much larger is not Meta. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Bodies read before their signature can be checked, together: each costs the agent several times its size, and a
 * client without the app secret could hold many 4 MiB bodies open (their last byte never sent) past the unit's
 * MemoryMax. Past it a post gets 503 and Meta sends it again; Meta's own bodies are a few KB.
 */
export const UNVERIFIED_BUDGET_BYTES = 2 * MAX_BODY_BYTES;
/** A body not whole by then is dropped (408), its share of the budget given back. */
export const BODY_READ_MS = 30_000;

/**
 * The body, "late" when it is not whole within `ms`, or "large" once it is over MAX_BODY_BYTES (the read is cancelled
 * either way). Read here, not by Hono's bodyLimit, which reads a chunked body (no Content-Length) whole by itself,
 * outside the budget and the deadline.
 */
async function readBody(req: Request, ms: number): Promise<Uint8Array | "late" | "large"> {
  const reader = req.body?.getReader();
  if (!reader) return new Uint8Array();
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    reader.cancel().catch(() => {});
  }, ms);
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_BODY_BYTES) {
        reader.cancel().catch(() => {});
        return "large";
      }
      parts.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  if (late) return "late";
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface WhatsAppWebhookOptions {
  path: string;
  verifyToken: string;
  appSecretKey: KeyObject;
  log: Logger;
  /** Commits the batch (throws when the store cannot). */
  ingest(payload: WaWebhook): Promise<void>;
}

export function mountWhatsAppWebhook(app: Hono, opts: WhatsAppWebhookOptions): void {
  app.get(opts.path, (c) => {
    const mode = c.req.query("hub.mode");
    const token = c.req.query("hub.verify_token") ?? "";
    const challenge = c.req.query("hub.challenge");
    const tokenOk = timingSafeEqualText(token, opts.verifyToken);
    if (mode !== "subscribe" || !tokenOk || challenge === undefined) {
      opts.log.warn("webhook verification refused", { mode: mode ?? null });
      return c.text("forbidden", 403);
    }
    return c.text(challenge, 200);
  });

  const tooLarge = (c: Context) => c.json({ error: "payload too large" }, 413);
  let unverified = 0;
  app.post(opts.path, async (c) => {
    const length = Number(c.req.header("content-length"));
    if (length > MAX_BODY_BYTES) return tooLarge(c);
    const share = length || MAX_BODY_BYTES;
    if (unverified + share > UNVERIFIED_BUDGET_BYTES) {
      opts.log.warn("webhook refused for now: too many bodies being read", { bytes: unverified });
      c.header("Retry-After", "5");
      return c.json({ error: "busy; retry later" }, 503);
    }
    unverified += share;
    let body: Uint8Array | "late" | "large";
    try {
      body = await readBody(c.req.raw, BODY_READ_MS);
    } finally {
      unverified -= share;
    }
    if (body === "late") return c.json({ error: `body not received within ${BODY_READ_MS / 1000} s` }, 408);
    if (body === "large") return tooLarge(c);
    const raw = body;
    const header = c.req.header(SIGNATURE_HEADER) ?? "";
    const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header);
    if (!m || !verifyHmacSha256Hex(opts.appSecretKey, raw, m[1]!)) {
      opts.log.warn("webhook refused: bad or missing signature", { present: header !== "" });
      return c.json({ error: "invalid signature" }, 401);
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      return c.json({ error: "body is not JSON" }, 400);
    }
    // Another object's payload (an app subscribed to Messenger too) has another shape: acknowledged before the
    // check, or Meta would send it again for days.
    const object = (json as { object?: unknown } | null)?.object;
    if (typeof object === "string" && object !== "whatsapp_business_account") {
      opts.log.info("webhook for another object ignored", { object });
      return c.json({ ok: true });
    }
    const payload = webhookSchema.safeParse(json);
    if (!payload.success) return c.json({ error: "not a WhatsApp webhook" }, 400);
    try {
      await opts.ingest(payload.data);
    } catch (err) {
      return failedRequest(c, err, opts.log, "webhook not stored");
    }
    return c.json({ ok: true });
  });
}
