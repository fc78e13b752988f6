/**
 * The webhook route: check the secret token (constant time), refuse a body over 1 MiB, validate the body, commit
 * the update, answer 200.
 * Nothing slow happens inside the request — no model call, no send — so Telegram's 60 s idle timeout and
 * grammY's 10 s limit are never near, and a redelivery after a non-2xx answer is deduplicated by update_id.
 *
 * @module
 */
import type { Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "../../log.ts";
import { failedRequest } from "../runtime.ts";
import { timingSafeEqualText } from "../channel/verify.ts";
import { readUpdate, type TelegramUpdate } from "./update.ts";

export const SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token";

export interface WebhookOptions {
  path: string;
  secret: string;
  log: Logger;
  /** Commits the update (throws when the store cannot). */
  ingest(updates: TelegramUpdate[]): Promise<void>;
}

/** An update is a few KB (a text is at most 4,096 characters); a larger body is refused unread. */
export const MAX_BODY_BYTES = 1024 * 1024;

export function mountTelegramWebhook(app: Hono, opts: WebhookOptions): void {
  const secretGiven: MiddlewareHandler = async (c, next) => {
    const given = c.req.header(SECRET_HEADER) ?? "";
    if (!timingSafeEqualText(given, opts.secret)) {
      opts.log.warn("webhook refused: wrong or missing secret token", { present: given !== "" });
      return c.json({ error: "unauthorized" }, 401);
    }
    await next();
  };
  const limit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.json({ error: "payload too large" }, 413) });
  app.post(opts.path, secretGiven, limit, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: "body is not JSON" }, 400);
    }
    const update = readUpdate(body);
    if (update === undefined) return c.json({ error: "not a Telegram update" }, 400);
    try {
      await opts.ingest([update]);
    } catch (err) {
      return failedRequest(c, err, opts.log, "webhook not stored");
    }
    return c.json({ ok: true });
  });
}
