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
import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "../../log.ts";
import { failedRequest } from "../runtime.ts";
import { timingSafeEqualText, verifyHmacSha256Hex } from "../channel/verify.ts";
import { type WaWebhook, webhookSchema } from "./payload.ts";

export const SIGNATURE_HEADER = "X-Hub-Signature-256";
/** Meta sends at most 3 MB; anything much larger is not Meta. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

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

  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => c.json({ error: "payload too large" }, 413),
  });
  app.post(opts.path, limit, async (c) => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
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
