/**
 * A fake Graph API for the WhatsApp Cloud API: real HTTP at `fake.baseUrl` (the configured `graphBaseUrl`),
 * `POST /{phone-number-id}/messages` for text, template and mark-as-read, bearer-token check (190), and the
 * documented error bodies (131047, 131056, 130429, 131048, 131026, 190) — scriptable per test, every request
 * recorded. Once told where (`deliverStatuses`), it posts each accepted message's status webhooks (`sent`,
 * then `delivered`) to the agent like Meta does: signed, echoing the send's `biz_opaque_callback_data`,
 * retried with growing delays until the agent answers 200.
 * Plus webhook payload builders that sign bodies like Meta does (HMAC-SHA256 of the raw bytes).
 */
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../fixtures/whatsapp/${name}.json`, import.meta.url), "utf8"));

export const graphErrors = {
  reengagement: () => ({ status: 400, body: fixture("error-131047") }),
  pairRate: () => ({ status: 400, body: fixture("error-131056") }),
  throughput: () => ({ status: 400, body: fixture("error-130429") }),
  spamRate: () => ({ status: 400, body: fixture("error-131048") }),
  undeliverable: () => ({ status: 400, body: fixture("error-131026") }),
  notForBsuid: () => ({ status: 400, body: fixture("error-131062") }),
  expiredToken: () => ({ status: 401, body: fixture("error-190") }),
  serverError: () => ({
    status: 500,
    body: {
      error: {
        message: "An unknown error has occurred.",
        type: "OAuthException",
        code: 1,
        fbtrace_id: "Eq1",
      },
    },
  }),
};

export interface GraphReply {
  status: number;
  body: unknown;
}

export interface GraphRequest {
  phoneNumberId: string;
  body: Record<string, unknown>;
  at: number;
}

export interface GraphSent {
  to: string;
  type: "text" | "template";
  text: string | undefined;
  template: { name: string; language: string } | undefined;
  previewUrl: unknown;
  /** `biz_opaque_callback_data` of the send. */
  callbackData: string | undefined;
  id: string;
  at: number;
}

export interface StatusTarget {
  /** The agent's webhook URL. */
  url: string;
  appSecret: string;
  /** Before the first attempt of each status (default 20 ms). */
  delayMs?: number;
}

/** One status webhook: delivered (the agent answered 200) after `attempts` tries, or not yet. */
export interface StatusPost {
  messageId: string;
  status: string;
  attempts: number;
  deliveredAt: number | undefined;
}

/** How a send is cut (`FakeGraph.cutNextSend`): before Graph got it, or after. */
export type CutMode = "lost" | "reached";

export interface FakeGraph {
  readonly baseUrl: string;
  readonly requests: GraphRequest[];
  /** Messages accepted (not the failed attempts, not mark-as-read). */
  readonly sent: GraphSent[];
  /** Message ids marked as read, with the typing indicator flag. */
  readonly reads: { messageId: string; typing: boolean; at: number }[];
  /** Users whose 24 h window is closed: free-form text to them answers 131047 (templates pass). */
  readonly windowClosed: Set<string>;
  /** Overrides the answer to a send (mark-as-read excluded); `index` counts sends from 0. */
  script(fn: (req: GraphRequest, index: number) => GraphReply | undefined): void;
  /** From now on, posts the status webhooks of every accepted message to `target`. */
  deliverStatuses(target: StatusTarget): void;
  /**
   * The next text or template send is never answered, and `onCut` runs when it arrives (e.g. to kill the agent,
   * which is then left with an unknown outcome). `lost`: Graph never got it (nothing recorded, no statuses);
   * `reached`: Graph accepted it (recorded, statuses posted) but its answer never came back. Returns a function
   * that disarms it.
   */
  cutNextSend(mode: CutMode, onCut: () => void): () => void;
  /** Every status webhook queued so far. */
  readonly statusPosts: StatusPost[];
  close(): Promise<void>;
}

/** A status notification as Meta posts it (one status per webhook). */
export function statusPayload(
  o: {
    phoneNumberId: string;
    messageId: string;
    status: string;
    to: string;
    callbackData?: string;
    at: number;
    /** A `failed` status's errors, e.g. `[{ code: 131047, title: "Re-engagement message" }]`. */
    errors?: { code: number; title: string }[];
  },
): Record<string, unknown> {
  return {
    object: "whatsapp_business_account",
    entry: [{
      id: "102290129340398",
      changes: [{
        field: "messages",
        value: {
          messaging_product: "whatsapp",
          metadata: { display_phone_number: "15550783881", phone_number_id: o.phoneNumberId },
          statuses: [{
            id: o.messageId,
            status: o.status,
            timestamp: String(Math.floor(o.at / 1000)),
            // A BSUID recipient: the user's phone number not shared (they set a username).
            ...(isBsuid(o.to) ? { recipient_user_id: o.to } : { recipient_id: o.to }),
            ...(o.callbackData === undefined ? {} : { biz_opaque_callback_data: o.callbackData }),
            ...(o.errors === undefined ? {} : { errors: o.errors }),
            pricing: {
              billable: false,
              pricing_model: "PMP",
              category: "service",
              type: "free_customer_service",
            },
          }],
        },
      }],
    }],
  };
}

/** A business-scoped user id (`US.13491208655302741918`) rather than a phone number. */
const isBsuid = (id: string) => /^[A-Z]{2}\./.test(id);

export async function startFakeGraph(opts: { accessToken: string; now?: () => number }): Promise<FakeGraph> {
  const now = opts.now ?? Date.now;
  const requests: GraphRequest[] = [];
  const sent: GraphSent[] = [];
  const reads: FakeGraph["reads"] = [];
  const windowClosed = new Set<string>();
  const scripts: ((req: GraphRequest, index: number) => GraphReply | undefined)[] = [];
  let sends = 0;
  let nextId = 1;
  let target: StatusTarget | undefined;
  let cut: { mode: CutMode; onCut: () => void } | undefined;
  /** The answer that is never sent. */
  const NO_ANSWER: GraphReply = { status: 0, body: undefined };
  const cutNow = (armed: { onCut: () => void }) => {
    cut = undefined;
    armed.onCut();
    return NO_ANSWER;
  };
  const statusPosts: StatusPost[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let closed = false;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  /** Posts one status webhook, again after 0.25, 0.5, 1, 2, 4, 4 … s until the agent answers 200. */
  const postStatus = (to: StatusTarget, post: StatusPost, body: string) => {
    const attempt = async () => {
      if (closed) return;
      post.attempts++;
      const ok = await fetch(to.url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-hub-signature-256": signature(body, to.appSecret) },
        body,
        signal: AbortSignal.timeout(5_000),
      }).then((r) => (r.body?.cancel(), r.ok), () => false);
      if (closed) return;
      if (ok) post.deliveredAt = now();
      else later(Math.min(4_000, 250 * 2 ** (post.attempts - 1)), attempt);
    };
    later(to.delayMs ?? 20, attempt);
  };
  const queueStatuses = (o: { phoneNumberId: string; messageId: string; to: string; callbackData?: string }) => {
    if (!target) return;
    for (const status of ["sent", "delivered"]) {
      const post: StatusPost = { messageId: o.messageId, status, attempts: 0, deliveredAt: undefined };
      statusPosts.push(post);
      postStatus(target, post, JSON.stringify(statusPayload({ ...o, status, at: now() })));
    }
  };

  const answer = (req: GraphRequest, auth: string | undefined): GraphReply => {
    if (auth !== `Bearer ${opts.accessToken}`) return graphErrors.expiredToken();
    const b = req.body;
    if (b["status"] === "read") {
      const typing = (b["typing_indicator"] as { type?: string } | undefined)?.type === "text";
      reads.push({ messageId: String(b["message_id"]), typing, at: req.at });
      return { status: 200, body: { success: true } };
    }
    const index = sends++;
    if (cut?.mode === "lost") return cutNow(cut);
    for (const fn of scripts) {
      const r = fn(req, index);
      if (r) return r;
    }
    // A phone number in `to`, or a BSUID in `recipient` (`to` wins when both are given).
    const to = String(b["to"] ?? b["recipient"]);
    const type = b["type"] === "template" ? "template" : "text";
    if (type === "text" && windowClosed.has(to)) return graphErrors.reengagement();
    const text = b["text"] as { body?: string; preview_url?: unknown } | undefined;
    const tpl = b["template"] as { name: string; language: { code: string } } | undefined;
    const id = `wamid.FAKE${String(nextId++).padStart(8, "0")}`;
    const callback = b["biz_opaque_callback_data"];
    const callbackData = typeof callback === "string" ? callback : undefined;
    sent.push({
      to,
      type,
      text: text?.body,
      template: tpl ? { name: tpl.name, language: tpl.language.code } : undefined,
      previewUrl: text?.preview_url,
      callbackData,
      id,
      at: req.at,
    });
    queueStatuses({ phoneNumberId: req.phoneNumberId, messageId: id, to, ...(callbackData ? { callbackData } : {}) });
    if (cut) return cutNow(cut); // "reached": accepted, statuses on their way, no answer
    return {
      status: 200,
      body: {
        messaging_product: "whatsapp",
        contacts: [{ input: to, ...(isBsuid(to) ? { user_id: to } : { wa_id: to }) }],
        messages: [{ id }],
      },
    };
  };

  const server: Server = createServer((req: IncomingMessage, res) => {
    let data = "";
    req.on("data", (d) => (data += d));
    req.on("end", () => {
      const m = /^\/v[\d.]+\/(\d+)\/messages$/.exec(req.url ?? "");
      let reply: GraphReply;
      if (req.method !== "POST" || !m) {
        reply = {
          status: 404,
          body: { error: { message: "Unknown path components", type: "OAuthException", code: 2500 } },
        };
      } else {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(data);
        } catch { /* answered below as a bad request */ }
        const request: GraphRequest = { phoneNumberId: m[1]!, body, at: now() };
        requests.push(request);
        reply = answer(request, req.headers.authorization);
        if (reply === NO_ANSWER) return; // the connection stays open until the client goes away
      }
      res.writeHead(reply.status, { "content-type": "application/json" });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v21.0`,
    requests,
    sent,
    reads,
    windowClosed,
    script: (fn) => void scripts.push(fn),
    deliverStatuses: (t) => void (target = t),
    cutNextSend(mode, onCut) {
      const armed = { mode, onCut };
      cut = armed;
      return () => void (cut === armed && (cut = undefined));
    },
    statusPosts,
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---- Webhook payload builders ----

/** `X-Hub-Signature-256` of these exact bytes. */
export function signature(body: string | Uint8Array, appSecret: string): string {
  return `sha256=${createHmac("sha256", appSecret).update(body).digest("hex")}`;
}

/** A fixture payload (text, interactive-button-reply, image-caption, statuses, multi-entry, …). */
export function webhookFixture(name: string): Record<string, unknown> {
  return fixture(name);
}

interface Value {
  messages?: Record<string, unknown>[];
  statuses?: Record<string, unknown>[];
  metadata: { phone_number_id: string };
}

function values(payload: Record<string, unknown>): Value[] {
  const entries = payload["entry"] as { changes: { value: Value }[] }[];
  return entries.flatMap((e) => e.changes.map((c) => c.value));
}

/** Rewrites a payload's timestamps (messages and statuses) to `seconds` (default: now) and its phone number id. */
export function freshen(
  payload: Record<string, unknown>,
  o: { seconds?: number; phoneNumberId?: string } = {},
): Record<string, unknown> {
  const p = structuredClone(payload);
  const ts = String(o.seconds ?? Math.floor(Date.now() / 1000));
  for (const v of values(p)) {
    if (o.phoneNumberId) v.metadata.phone_number_id = o.phoneNumberId;
    for (const m of v.messages ?? []) m["timestamp"] = ts;
    for (const s of v.statuses ?? []) s["timestamp"] = String(Number(ts) + Number(s["timestamp"]) % 100);
  }
  return p;
}

/** A one-message text payload from `from` with id `id`. */
export function textPayload(
  o: { id: string; from: string; body: string; phoneNumberId: string; seconds?: number },
): Record<string, unknown> {
  const p = freshen(fixture("text"), {
    phoneNumberId: o.phoneNumberId,
    ...(o.seconds !== undefined ? { seconds: o.seconds } : {}),
  });
  const v = values(p)[0]!;
  const m = v.messages![0]!;
  m["id"] = o.id;
  m["from"] = o.from;
  (m["text"] as { body: string }).body = o.body;
  (v as unknown as { contacts: { wa_id: string }[] }).contacts[0]!.wa_id = o.from;
  return p;
}

/** Merges the messages of several payloads into one change (one webhook batch). */
export function batchPayload(payloads: Record<string, unknown>[]): Record<string, unknown> {
  const first = structuredClone(payloads[0]!);
  const v = values(first)[0]!;
  v.messages = payloads.flatMap((p) => values(p).flatMap((x) => x.messages ?? []));
  return first;
}
