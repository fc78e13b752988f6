/**
 * The web chat's HTTP surface: the page, `POST api/messages` (ingress: validated, committed with the
 * client's message id as idempotency key, then 202), `GET api/replies` (the replies stored by egress, and
 * whether a message of the visitor still waits for its answer) and `GET api/history` (the conversation so far).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import type { Logger } from "../../log.ts";
import type { Client } from "../../store/mod.ts";
import { isBlank } from "../channel/inbound.ts";
import { failedRequest } from "../runtime.ts";
import { clientOf, createMinuteCounter } from "../client-address.ts";
import { pagePolicy, type PageSettings, renderPage, SESSION_HEADER } from "./page.ts";
import { awaitingReply, historyOf, repliesAfter } from "./replies.ts";

export interface WebchatRoutesOptions {
  agent: string;
  page: PageSettings;
  client: Client;
  log: Logger;
  now: () => number;
  /**
   * Commits one visitor message of chat `chatId` (`sessionChatId`) from client `client` (`clientKey`); throws when
   * the store cannot. False when a message of that id was stored before (the page's retry).
   */
  ingest(msg: { chatId: string; id: string; text: string; client: string }): Promise<boolean>;
  /** Whether a message of that id is stored (`ingest` would find it a retry). */
  stored(id: string): Promise<boolean>;
  /** Messages one client address may post per minute (0: no limit), and the header naming it behind a proxy. */
  perAddressPerMinute: number;
  clientAddressHeader?: string | undefined;
}

/**
 * The chat id of a web chat session: a hash of the session id (lower-cased: the same session however a client spells
 * its UUID). The session id is all it takes to read and write that conversation, so it is kept like a password:
 * never stored, logged or shown (the dashboard shows chat ids), and a chat id does not open the session.
 */
export function sessionChatId(sessionId: string): string {
  return createHash("sha256").update(sessionId.toLowerCase()).digest("hex").slice(0, 32);
}
const session = z.uuid().transform(sessionChatId);
/** How far back a visitor's unanswered message keeps "typing…" on (one stuck message must not keep it forever). */
export const PENDING_WINDOW_MS = 10 * 60_000;

export function mountWebchat(app: Hono, opts: WebchatRoutesOptions): void {
  const messageSchema = z.strictObject({
    session,
    id: z.uuid(),
    text: z.string().trim().max(opts.page.maxTextLength, `text is over ${opts.page.maxTextLength} characters`)
      .refine((t) => !isBlank(t), "text is empty"),
  });

  app.get("/", (c) => {
    const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    c.header("Content-Security-Policy", pagePolicy(nonce));
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-store");
    return c.html(renderPage(opts.page, nonce));
  });

  // Browsers ask for it on every page load; there is none.
  app.get("/favicon.ico", (c) => c.body(null, 204));

  const limit = opts.perAddressPerMinute > 0 ? createMinuteCounter(opts.perAddressPerMinute, opts.now) : undefined;

  app.post(
    "/api/messages",
    bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json({ error: "message too large" }, 413) }),
    async (c) => {
      // Another site's page can make its visitors' browsers post here: a "simple" request (text/plain, no
      // preflight) would be stored and answered on this business's model budget. JSON only, which takes a
      // preflight that is never granted; and what the browser itself says is cross-site is refused.
      if (c.req.header("sec-fetch-site") === "cross-site") return c.json({ error: "cross-site request" }, 403);
      if (!/^application\/json\s*(;|$)/i.test(c.req.header("content-type") ?? "")) {
        return c.json({ error: "expected content-type: application/json" }, 415);
      }
      const client = clientOf(c, opts.clientAddressHeader);
      if (limit) {
        const waitS = limit.waitS(client);
        if (waitS > 0) {
          // The page's resend of a message already stored (its 202 lost) is not counted: it is accepted again.
          const resent = messageSchema.safeParse(await c.req.json().catch(() => undefined));
          if (resent.success && await opts.stored(resent.data.id).catch(() => false)) return c.json({ ok: true }, 202);
          c.header("Retry-After", String(waitS));
          return c.json({ error: `too many messages; try again in ${waitS} s` }, 429);
        }
        limit.count(client);
      }
      const body: unknown = await c.req.json().catch(() => undefined);
      const parsed = messageSchema.safeParse(body);
      if (!parsed.success) {
        limit?.uncount(client); // the limit bounds messages taken in: nothing was
        const textIssue = parsed.error.issues.find((i) => i.path[0] === "text" && i.code !== "invalid_type");
        return c.json({ error: textIssue?.message ?? "expected { session: uuid, id: uuid, text }" }, 400);
      }
      try {
        const fresh = await opts.ingest({ chatId: parsed.data.session, id: parsed.data.id, text: parsed.data.text, client });
        if (!fresh) limit?.uncount(client);
      } catch (err) {
        // Our failure: the page sends it again after Retry-After, which must not find the client's minute used up.
        limit?.uncount(client);
        return failedRequest(c, err, opts.log, "webhook not stored");
      }
      return c.json({ ok: true }, 202);
    },
  );

  // The conversation so far, for a page opened again (a reload, a new tab): its polling goes on from `after`.
  app.get("/api/history", async (c) => {
    const id = session.safeParse(c.req.header(SESSION_HEADER));
    if (!id.success) return c.json({ error: `expected the session id in ${SESSION_HEADER}` }, 400);
    c.header("Cache-Control", "no-store");
    return c.json(await historyOf(opts.client, opts.agent, id.data));
  });

  app.get("/api/replies", async (c) => {
    const id = session.safeParse(c.req.header(SESSION_HEADER));
    const after = Number(c.req.query("after") ?? 0);
    if (!id.success || !Number.isSafeInteger(after) || after < 0) {
      return c.json({ error: `expected the session id in ${SESSION_HEADER}, and after` }, 400);
    }
    const [replies, pending] = await Promise.all([
      repliesAfter(opts.client, opts.agent, id.data, after),
      awaitingReply(opts.client, opts.agent, id.data, opts.now() - PENDING_WINDOW_MS),
    ]);
    c.header("Cache-Control", "no-store");
    // `pending`: a message of the visitor still waits for its answer to be stored here (the page shows "typing…"); a
    // burst answered as one (coalescing) clears it with that one answer.
    return c.json({ replies: replies.map((r) => ({ seq: r.seq, kind: r.kind, text: r.text })), pending });
  });
}
