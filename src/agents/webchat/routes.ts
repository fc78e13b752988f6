/**
 * The web chat's HTTP surface: the page, `POST api/messages` (ingress: validated, committed with the
 * client's message id as idempotency key, then 202), `GET api/replies` (the replies stored by egress, and
 * whether a message of the visitor still waits for its answer) and `GET api/history` (the conversation so far).
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import type { Logger } from "../../log.ts";
import type { ConnInfo } from "../../platform.ts";
import type { Client } from "../../store/mod.ts";
import { isBlank } from "../channel/inbound.ts";
import { ingressFailure } from "../channel/ingress.ts";
import { pagePolicy, type PageSettings, renderPage } from "./page.ts";
import { awaitingReply, historyOf, repliesAfter } from "./replies.ts";

export interface WebchatRoutesOptions {
  agent: string;
  page: PageSettings;
  client: Client;
  log: Logger;
  now: () => number;
  /** Commits one visitor message (throws when the store cannot). */
  ingest(msg: { session: string; id: string; text: string }): Promise<void>;
  /** Messages one client address may post per minute (0: no limit), and the header naming it behind a proxy. */
  perAddressPerMinute: number;
  clientAddressHeader?: string | undefined;
}

/**
 * Counts each client address's messages in fixed one-minute windows. Returns 0 when `addr` may post now, else the
 * seconds until it may.
 */
function createAddressLimit(perMinute: number, now: () => number): (addr: string) => number {
  const windows = new Map<string, { start: number; count: number }>();
  let swept = 0;
  return (addr) => {
    const t = now();
    if (t - swept > 60_000) {
      swept = t;
      for (const [a, w] of windows) if (t - w.start >= 60_000) windows.delete(a);
    }
    let w = windows.get(addr);
    if (!w || t - w.start >= 60_000) windows.set(addr, w = { start: t, count: 0 });
    if (w.count >= perMinute) return Math.max(1, Math.ceil((w.start + 60_000 - t) / 1000));
    w.count++;
    return 0;
  };
}

/**
 * The client a limit counts: an IPv4 address (also when written IPv4-mapped), or an IPv6 address's /64, which one
 * client usually holds whole.
 */
export function clientKey(addr: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr)?.[1];
  if (v4 !== undefined) return v4;
  if (!addr.includes(":")) return addr;
  const [head = "", tail] = addr.split("%")[0]!.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/** Lower-cased: the same session however a client spells its UUID. */
const session = z.uuid().transform((s) => s.toLowerCase());
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

  const limit = opts.perAddressPerMinute > 0 ? createAddressLimit(opts.perAddressPerMinute, opts.now) : undefined;
  const header = opts.clientAddressHeader;
  const addressOf = (c: Context) =>
    (header ? c.req.header(header)?.split(",").at(-1)?.trim() : undefined) ||
    (c.env as ConnInfo | undefined)?.remoteAddr || "unknown";

  app.post(
    "/api/messages",
    bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json({ error: "message too large" }, 413) }),
    async (c) => {
      const waitS = limit?.(clientKey(addressOf(c))) ?? 0;
      if (waitS > 0) {
        c.header("Retry-After", String(waitS));
        return c.json({ error: `too many messages; try again in ${waitS} s` }, 429);
      }
      const body: unknown = await c.req.json().catch(() => undefined);
      const parsed = messageSchema.safeParse(body);
      if (!parsed.success) {
        const textIssue = parsed.error.issues.find((i) => i.path[0] === "text" && i.code !== "invalid_type");
        return c.json({ error: textIssue?.message ?? "expected { session: uuid, id: uuid, text }" }, 400);
      }
      try {
        await opts.ingest(parsed.data);
      } catch (err) {
        return ingressFailure(c, err, opts.log);
      }
      return c.json({ ok: true }, 202);
    },
  );

  // The conversation so far, for a page opened again (a reload, a new tab): its polling goes on from `after`.
  app.get("/api/history", async (c) => {
    const id = session.safeParse(c.req.query("session"));
    if (!id.success) return c.json({ error: "expected session" }, 400);
    c.header("Cache-Control", "no-store");
    return c.json(await historyOf(opts.client, opts.agent, id.data));
  });

  app.get("/api/replies", async (c) => {
    const id = session.safeParse(c.req.query("session"));
    const after = Number(c.req.query("after") ?? 0);
    if (!id.success || !Number.isSafeInteger(after) || after < 0) {
      return c.json({ error: "expected session and after" }, 400);
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
