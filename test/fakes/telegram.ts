/**
 * A fake Telegram Bot API server: real HTTP (`apiRoot` = `fake.apiRoot`), the methods the channel uses
 * (getUpdates with long polling and offset confirmation, sendMessage, editMessageText, deleteMessage,
 * sendChatAction, setWebhook, deleteWebhook, getWebhookInfo, getMe) and the documented error shapes
 * (`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}`,
 * 403 blocked, 5xx). It records every call and can be scripted per test.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeReply {
  status: number;
  body: unknown;
}

export interface Call {
  method: string;
  body: Record<string, unknown>;
  at: number;
}

export interface SentMessage {
  chatId: number | string;
  /** The forum topic it was sent to (`message_thread_id`), if any. */
  threadId?: number;
  /** What the message shows now (its last edit). */
  text: string;
  linkPreviewDisabled: boolean;
  parseMode: unknown;
  messageId: number;
  at: number;
  /** Every text the message showed, the sent one first, then each edit. */
  history: string[];
  /** When each text of `history` was set. */
  historyAt: number[];
  /** Deleted (deleteMessage): no longer shown. */
  deleted?: boolean;
}

/** One accepted editMessageText. */
export interface EditedMessage {
  chatId: number | string;
  messageId: number;
  text: string;
  at: number;
}

/** Returns a reply to override the default behaviour of a call, or undefined to let it through. */
export type Script = (call: Call, index: number) => FakeReply | undefined;

export const errors = {
  tooManyRequests: (retryAfter: number): FakeReply => ({
    status: 429,
    body: {
      ok: false,
      error_code: 429,
      description: `Too Many Requests: retry after ${retryAfter}`,
      parameters: { retry_after: retryAfter },
    },
  }),
  blocked: (): FakeReply => ({
    status: 403,
    body: { ok: false, error_code: 403, description: "Forbidden: bot was blocked by the user" },
  }),
  badGateway: (): FakeReply => ({
    status: 502,
    body: { ok: false, error_code: 502, description: "Bad Gateway" },
  }),
  /** What the Bot API answers a revoked or mistyped token. */
  unauthorized: (): FakeReply => ({
    status: 401,
    body: { ok: false, error_code: 401, description: "Unauthorized" },
  }),
  /** core.telegram.org/bots/api#responseparameters: the group was upgraded to the supergroup `to`. */
  migrated: (to: number): FakeReply => ({
    status: 400,
    body: {
      ok: false,
      error_code: 400,
      description: "Bad Request: group chat was upgraded to a supergroup chat",
      parameters: { migrate_to_chat_id: to },
    },
  }),
  chatNotFound: (): FakeReply => ({
    status: 400,
    body: { ok: false, error_code: 400, description: "Bad Request: chat not found" },
  }),
};

export interface FakeTelegramOptions {
  token: string;
  /** Most updates one getUpdates call returns (Telegram: `limit`, up to 100). */
  maxBatch?: number;
  now?: () => number;
}

export interface FakeTelegram {
  readonly apiRoot: string;
  readonly calls: Call[];
  readonly sent: SentMessage[];
  /** Accepted edits (editMessageText), in order. */
  readonly edits: EditedMessage[];
  /** Chat ids whose users blocked the bot: sendMessage answers 403. */
  readonly blocked: Set<string>;
  /** Queues updates for getUpdates (wakes a waiting long poll). */
  push(...updates: Record<string, unknown>[]): void;
  /** Update ids handed out by getUpdates and confirmed by a later offset. */
  confirmed(): number[];
  /** Updates not confirmed yet. */
  pending(): number;
  /** Overrides a method's answers (first script that returns a reply wins). */
  script(method: string, fn: Script): void;
  /** Delays a method's answers by `fn(call)` ms (a slow chat, a slow network). */
  delay(method: string, fn: (call: Call) => number): void;
  /** Called after every answered getUpdates (the kill -9 tests hook in here). */
  onGetUpdates(fn: (served: number[], offset: number | undefined) => void): void;
  webhook(): { url: string; secretToken: string | undefined } | undefined;
  /**
   * Records a failed delivery to the webhook, as Telegram does when the URL answers non-2xx or not at all:
   * getWebhookInfo then reports it (`last_error_date` in epoch seconds, `last_error_message`).
   */
  deliveryFailed(message: string, at?: number): void;
  callsOf(method: string): Call[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (d) => (data += d));
    req.on("end", () => {
      try {
        const parsed = data === "" ? {} : JSON.parse(data);
        resolve(typeof parsed === "object" && parsed !== null ? parsed : {});
      } catch {
        resolve({});
      }
    });
  });
}

export async function startFakeTelegram(opts: FakeTelegramOptions): Promise<FakeTelegram> {
  const now = opts.now ?? Date.now;
  const calls: Call[] = [];
  const sent: SentMessage[] = [];
  const edits: EditedMessage[] = [];
  const blocked = new Set<string>();
  const scripts = new Map<string, Script[]>();
  const delays = new Map<string, (call: Call) => number>();
  const counts = new Map<string, number>();
  let queue: Record<string, unknown>[] = [];
  const confirmed: number[] = [];
  const served = new Set<number>();
  const waiters = new Set<() => void>();
  let getUpdatesHook: ((served: number[], offset: number | undefined) => void) | undefined;
  let hook: { url: string; secretToken: string | undefined; allowedUpdates?: unknown } | undefined;
  let nextMessageId = 1000;
  let deliveryError: { date: number; message: string } | undefined;

  const ok = (result: unknown): FakeReply => ({ status: 200, body: { ok: true, result } });
  const idOf = (u: Record<string, unknown>) => Number(u["update_id"]);

  const getUpdates = async (body: Record<string, unknown>, req: IncomingMessage): Promise<FakeReply> => {
    if (hook) {
      return {
        status: 409,
        body: {
          ok: false,
          error_code: 409,
          description:
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        },
      };
    }
    const offset = typeof body["offset"] === "number" ? body["offset"] : undefined;
    if (offset !== undefined) {
      // Confirms every update below the offset (only those handed out count as confirmed by the client).
      for (const u of queue) if (idOf(u) < offset && served.has(idOf(u))) confirmed.push(idOf(u));
      queue = queue.filter((u) => idOf(u) >= offset);
    }
    const timeoutS = typeof body["timeout"] === "number" ? body["timeout"] : 0;
    if (queue.length === 0 && timeoutS > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeoutS * 1000);
        waiters.add(done);
        req.on("close", done);
      });
    }
    const limit = Math.min(typeof body["limit"] === "number" ? body["limit"] : 100, opts.maxBatch ?? 100);
    const batch = queue.slice(0, limit);
    for (const u of batch) served.add(idOf(u));
    queueMicrotask(() => getUpdatesHook?.(batch.map(idOf), offset));
    return ok(batch);
  };

  const handle = (
    method: string,
    body: Record<string, unknown>,
    req: IncomingMessage,
  ): FakeReply | Promise<FakeReply> => {
    switch (method) {
      case "getUpdates":
        return getUpdates(body, req);
      case "getMe":
        return ok({ id: 7111222333, is_bot: true, first_name: "Example bot", username: "example_bot" });
      case "setWebhook":
        hook = {
          url: String(body["url"]),
          secretToken: body["secret_token"] === undefined ? undefined : String(body["secret_token"]),
          ...(body["allowed_updates"] === undefined ? {} : { allowedUpdates: body["allowed_updates"] }),
        };
        return ok(true);
      case "getWebhookInfo":
        // core.telegram.org/bots/api#getwebhookinfo: a WebhookInfo; `url` is "" when none is set (polling); the
        // last failed delivery's date and message while a webhook is set.
        return ok({
          url: hook?.url ?? "",
          has_custom_certificate: false,
          pending_update_count: queue.length,
          ...(hook && deliveryError
            ? { last_error_date: deliveryError.date, last_error_message: deliveryError.message }
            : {}),
          ...(hook ? { max_connections: 40 } : {}),
          ...(hook?.allowedUpdates === undefined ? {} : { allowed_updates: hook.allowedUpdates }),
        });
      case "deleteWebhook":
        hook = undefined;
        return ok(true);
      case "sendChatAction":
        return ok(true);
      case "sendMessage": {
        const chatId = body["chat_id"] as number | string;
        const text = typeof body["text"] === "string" ? body["text"] : "";
        if (text.length === 0) {
          return {
            status: 400,
            body: { ok: false, error_code: 400, description: "Bad Request: message text is empty" },
          };
        }
        if (text.length > 4096) {
          return {
            status: 400,
            body: { ok: false, error_code: 400, description: "Bad Request: message is too long" },
          };
        }
        if (blocked.has(String(chatId))) return errors.blocked();
        const messageId = nextMessageId++;
        const preview = body["link_preview_options"] as { is_disabled?: boolean } | undefined;
        const at = now();
        const thread = body["message_thread_id"];
        sent.push({
          chatId,
          ...(typeof thread === "number" ? { threadId: thread } : {}),
          text,
          linkPreviewDisabled: preview?.is_disabled === true,
          parseMode: body["parse_mode"],
          messageId,
          at,
          history: [text],
          historyAt: [at],
        });
        return ok({
          message_id: messageId,
          date: Math.floor(now() / 1000),
          chat: { id: chatId, type: "private" },
          text,
        });
      }
      case "editMessageText": {
        // core.telegram.org/bots/api#editmessagetext: returns the edited Message; the same text again is a
        // 400 "message is not modified"; an unknown message (or another chat's) is "message to edit not found".
        const chatId = body["chat_id"] as number | string;
        const text = typeof body["text"] === "string" ? body["text"] : "";
        const bad = (description: string): FakeReply => ({
          status: 400,
          body: { ok: false, error_code: 400, description: `Bad Request: ${description}` },
        });
        if (blocked.has(String(chatId))) return errors.blocked();
        const m = sent.find((x) =>
          x.messageId === body["message_id"] && String(x.chatId) === String(chatId) && !x.deleted
        );
        if (!m) return bad("message to edit not found");
        if (text.length === 0) return bad("message text is empty");
        if (text.length > 4096) return bad("MESSAGE_TOO_LONG");
        if (text === m.text) {
          return bad(
            "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
          );
        }
        const at = now();
        m.text = text;
        m.history.push(text);
        m.historyAt.push(at);
        edits.push({ chatId, messageId: m.messageId, text, at });
        return ok({
          message_id: m.messageId,
          date: Math.floor(m.at / 1000),
          edit_date: Math.floor(at / 1000),
          chat: { id: chatId, type: "private" },
          text,
        });
      }
      case "deleteMessage": {
        // core.telegram.org/bots/api#deletemessage: true; a message already deleted (or never there) is a 400.
        const m = sent.find((x) =>
          x.messageId === body["message_id"] && String(x.chatId) === String(body["chat_id"]) && !x.deleted
        );
        if (!m) {
          return { status: 400, body: { ok: false, error_code: 400, description: "Bad Request: message to delete not found" } };
        }
        m.deleted = true;
        return ok(true);
      }
      default:
        return {
          status: 404,
          body: { ok: false, error_code: 404, description: "Not Found: method not found" },
        };
    }
  };

  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.url?.split("?")[0] ?? "");
    const body = await readBody(req);
    let reply: FakeReply;
    if (!m || m[1] !== opts.token) {
      reply = errors.unauthorized();
    } else {
      const method = m[2]!;
      const call: Call = { method, body, at: now() };
      calls.push(call);
      const index = counts.get(method) ?? 0;
      counts.set(method, index + 1);
      let scripted: FakeReply | undefined;
      for (const fn of scripts.get(method) ?? []) {
        scripted = fn(call, index);
        if (scripted) break;
      }
      const wait = delays.get(method)?.(call) ?? 0;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      reply = scripted ?? await handle(method, body, req);
    }
    if (res.destroyed) return;
    res.writeHead(reply.status, { "content-type": "application/json" });
    res.end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    apiRoot: `http://127.0.0.1:${port}`,
    calls,
    sent,
    edits,
    blocked,
    push(...updates) {
      queue.push(...updates);
      for (const w of [...waiters]) w();
    },
    confirmed: () => [...confirmed],
    pending: () => queue.length,
    script(method, fn) {
      scripts.set(method, [...(scripts.get(method) ?? []), fn]);
    },
    delay(method, fn) {
      delays.set(method, fn);
    },
    onGetUpdates(fn) {
      getUpdatesHook = fn;
    },
    webhook: () => hook,
    deliveryFailed(message, at = now()) {
      deliveryError = { date: Math.floor(at / 1000), message };
    },
    callsOf: (method) => calls.filter((c) => c.method === method),
    close: () =>
      new Promise<void>((resolve) => {
        for (const w of [...waiters]) w();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An update from a fixture with a fresh id, chat and date (epoch seconds = now unless given). */
export function makeUpdate(
  fixture: Record<string, unknown>,
  o: { updateId: number; chatId?: number; date?: number; text?: string },
): Record<string, unknown> {
  const u = structuredClone(fixture);
  u["update_id"] = o.updateId;
  for (const key of ["message", "edited_message", "channel_post", "my_chat_member"]) {
    const m = u[key] as Record<string, unknown> | undefined;
    if (!m) continue;
    if (o.chatId !== undefined) {
      (m["chat"] as Record<string, unknown>)["id"] = o.chatId;
      const from = m["from"] as Record<string, unknown> | undefined;
      if (from) from["id"] = o.chatId;
    }
    m["date"] = o.date ?? Math.floor(Date.now() / 1000);
    if (o.text !== undefined) m["text"] = o.text;
  }
  return u;
}
