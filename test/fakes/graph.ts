/**
 * A fake Graph API for the WhatsApp Cloud API: real HTTP at `fake.baseUrl` (the configured `graphBaseUrl`),
 * `POST /{phone-number-id}/messages` for text, template and mark-as-read, bearer-token check (190), and the
 * documented error bodies (131047, 131056, 130429, 131026, 190) — scriptable per test, every request recorded.
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
  undeliverable: () => ({ status: 400, body: fixture("error-131026") }),
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
  id: string;
  at: number;
}

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
  close(): Promise<void>;
}

export async function startFakeGraph(opts: { accessToken: string; now?: () => number }): Promise<FakeGraph> {
  const now = opts.now ?? Date.now;
  const requests: GraphRequest[] = [];
  const sent: GraphSent[] = [];
  const reads: FakeGraph["reads"] = [];
  const windowClosed = new Set<string>();
  const scripts: ((req: GraphRequest, index: number) => GraphReply | undefined)[] = [];
  let sends = 0;
  let nextId = 1;

  const answer = (req: GraphRequest, auth: string | undefined): GraphReply => {
    if (auth !== `Bearer ${opts.accessToken}`) return graphErrors.expiredToken();
    const b = req.body;
    if (b["status"] === "read") {
      const typing = (b["typing_indicator"] as { type?: string } | undefined)?.type === "text";
      reads.push({ messageId: String(b["message_id"]), typing, at: req.at });
      return { status: 200, body: { success: true } };
    }
    const index = sends++;
    for (const fn of scripts) {
      const r = fn(req, index);
      if (r) return r;
    }
    const to = String(b["to"]);
    const type = b["type"] === "template" ? "template" : "text";
    if (type === "text" && windowClosed.has(to)) return graphErrors.reengagement();
    const text = b["text"] as { body?: string; preview_url?: unknown } | undefined;
    const tpl = b["template"] as { name: string; language: { code: string } } | undefined;
    const id = `wamid.FAKE${String(nextId++).padStart(8, "0")}`;
    sent.push({
      to,
      type,
      text: text?.body,
      template: tpl ? { name: tpl.name, language: tpl.language.code } : undefined,
      previewUrl: text?.preview_url,
      id,
      at: req.at,
    });
    return {
      status: 200,
      body: { messaging_product: "whatsapp", contacts: [{ input: to, wa_id: to }], messages: [{ id }] },
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
    close: () =>
      new Promise<void>((resolve) => {
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
