// The web chat's HTTP surface in this process: the page, message ingress (idempotent by the page's message id),
// replies stored by egress and polled by the page.
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, INBOUND_TOPIC, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { turnPending } from "../../src/agents/channel/inbox.ts";
import { clientKey } from "../../src/agents/client-address.ts";
import { SESSION_HEADER } from "../../src/agents/webchat/page.ts";
import { sessionChatId } from "../../src/agents/webchat/routes.ts";
import { PermanentError } from "../../src/bus/mod.ts";
import { repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until } from "./harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
let ch: Channel;
let db = 0;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-")));
afterAll(() => cleanup());
beforeEach(async () => {
  ch = await startChannel({
    dir,
    dbFile: `web-${db++}.db`,
    secrets: {},
    roles: { support: { kind: "support", systemPrompt: "Be nice.", greeting: "Hi! Ask me about <plans>." } },
    agent: {
      name: "web",
      kind: "webchat",
      role: "support",
      webchat: { title: "Example <Co>", maxTextLength: 100 },
    },
  });
});
afterEach(() => ch.stop());
/** The channel again, on a new database, with these web chat settings. */
const restartWith = async (webchat: Record<string, unknown>) => {
  await ch.stop();
  ch = await startChannel({
    dir,
    dbFile: `web-${db++}.db`,
    secrets: {},
    roles: { support: { kind: "support", systemPrompt: "Be nice." } },
    agent: { name: "web", kind: "webchat", role: "support", webchat },
  });
};

const SESSION = "6f1c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f";
/** The session's chat id: what the store, the bus and the dashboard know it by. */
const CHAT = sessionChatId(SESSION);
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const send = (body: unknown) =>
  fetch(`${ch.url}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
/** A GET of the page's API as the page makes it: the session id in its header. */
const get = (path: string, session: string = SESSION) =>
  fetch(`${ch.url}${path}`, { headers: { [SESSION_HEADER]: session } });
const replies = async (after = 0) => (await (await get(`/api/replies?after=${after}`)).json()).replies;

describe("web chat", () => {
  it("serves one self-contained page: no external URLs, escaped settings, a nonce-only script policy", async () => {
    const res = await fetch(`${ch.url}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy")!;
    const html = await res.text();
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(csp).toContain("default-src 'none'");
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(html).toContain("<title>Example &lt;Co&gt;</title>");
    expect(html).toContain("Hi! Ask me about \\u003cplans>.");
  });

  it("stores a visitor message once per client message id and answers 202", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await send({ session: SESSION, id: id(1), text: "How much is Pro?" })).status).toBe(202);
    }
    expect((await send({ session: SESSION, id: id(2), text: "/reset" })).status).toBe(202);
    const inbound = await ch.inbound();
    expect(inbound.map((m) => [m["kind"], m["text"], m["chatId"], m["channel"]])).toEqual([
      ["text", "How much is Pro?", CHAT, "webchat"],
      ["command", "/reset", CHAT, "webchat"],
    ]);
    expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC)).toBe(2);
  });

  it("refuses bad input: no session, not a uuid, empty or too long text, not JSON", async () => {
    for (
      const body of [{ id: id(3), text: "x" }, { session: "abc", id: id(3), text: "x" }, {
        session: SESSION,
        id: id(3),
        text: "  ",
      }, { session: SESSION, id: id(3), text: "x".repeat(101) }]
    ) {
      expect((await send(body)).status).toBe(400);
    }
    const post = (headers: Record<string, string>, body = "{") => fetch(`${ch.url}/api/messages`, { method: "POST", headers, body });
    expect((await post({ "content-type": "application/json" })).status).toBe(400);
    // What another site's page can make a browser send without a preflight: refused, nothing stored.
    const valid = JSON.stringify({ session: SESSION, id: id(4), text: "write me a 2000-word essay" });
    const stored = () => ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC);
    const before = await stored();
    expect((await post({ "content-type": "text/plain;charset=UTF-8" }, valid)).status).toBe(415);
    expect((await post({ "content-type": "application/json", "sec-fetch-site": "cross-site" }, valid)).status).toBe(403);
    expect(await stored()).toBe(before);
    expect((await get("/api/replies", "nope")).status).toBe(400);
    expect((await get("/api/history", "nope")).status).toBe(400);
    // The session id in the URL (which proxies log) is not read.
    expect((await fetch(`${ch.url}/api/replies?session=${SESSION}&after=0`)).status).toBe(400);
    expect((await fetch(`${ch.url}/api/history?session=${SESSION}`)).status).toBe(400);
    expect(await ch.count("SELECT count(*) FROM bus_messages")).toBe(0);
  });

  it("says what is wrong with the text: too long, or nothing visible in it", async () => {
    const error = async (text: string) => (await (await send({ session: SESSION, id: id(4), text })).json()).error;
    expect(await error("x".repeat(101))).toBe("text is over 100 characters");
    expect(await error("\u200b \ufeff")).toBe("text is empty");
    // Blanks that are not spaces: Braille blank, Hangul fillers, soft hyphen, bidi overrides, Mongolian vowel
    // separator, combining grapheme joiner, a tag space.
    for (const blank of ["\u2800", "\u3164", "\u115f\u1160", "\u00ad", "\u202e\u202d", "\u180e", "\u034f", "\u{e0020}"]) {
      expect(await error(blank)).toBe("text is empty");
    }
    expect(await ch.count("SELECT count(*) FROM bus_messages")).toBe(0);
    // Text in any script, or an emoji alone, is something to read.
    for (const [n, text] of [[7, "नमस्ते"], [8, "👍"], [9, "ok\u00ad"]] as const) {
      expect((await send({ session: SESSION, id: id(n), text })).status).toBe(202);
    }
  });

  it("one session however its UUID is spelled; replies say whether a message still waits for its answer", async () => {
    const pending = async () =>
      (await (await get("/api/replies?after=0")).json()).pending;
    expect(await pending()).toBe(false);
    expect((await send({ session: SESSION.toUpperCase(), id: id(5), text: "Hello?" })).status).toBe(202);
    expect((await ch.inbound()).map((m) => m["chatId"])).toEqual([CHAT]);
    expect(await pending()).toBe(true);
    // Answered by the orchestrator, but the reply not stored for the page yet: still "typing…".
    await ch.rows("UPDATE chat_inbox SET state = 'answered', reply_key = 'turn-5:answer' WHERE chat_id = ?", CHAT);
    expect(await pending()).toBe(true);
    await ch.rows(
      "INSERT INTO webchat_replies (agent, session_id, reply_key, kind, text, created_at) VALUES ('web', ?, 'turn-5:answer#0', 'answer', 'Hi!', 0)",
      CHAT,
    );
    expect(await pending()).toBe(false);
  });

  it("a dead-lettered message no longer shows typing…; retried from the dead letters, it waits again", async () => {
    const pending = async () =>
      (await (await get("/api/replies?after=0")).json()).pending;
    expect((await send({ session: SESSION, id: id(6), text: "Anyone there?" })).status).toBe(202);
    expect(await pending()).toBe(true);
    const dead: { id: number; traceId: string | undefined; error: string }[] = [];
    const consumer = ch.bus.consume({
      topic: INBOUND_TOPIC,
      group: "orchestrator",
      handler: () => Promise.reject(new PermanentError("no provider answered")),
      onDeadLetter: (d) => dead.push(d),
    });
    await until(() => dead.length === 1, 10_000, "the dead letter");
    await consumer.stop();
    const [letter] = await ch.bus.deadLetters({ topic: INBOUND_TOPIC });
    expect(dead).toEqual([{ id: letter!.id, traceId: expect.any(String), error: "PermanentError: no provider answered" }]);
    expect(await pending()).toBe(false);
    // The typing indicator of the Telegram and WhatsApp agents reads the same.
    const typing = () => turnPending(ch.running.store.client, "web", CHAT, Date.now() - 120_000); // typing.maxMs
    expect(await typing()).toBe(false);
    expect(await ch.bus.retryDeadLetter(letter!.id)).toBe(true);
    expect(await pending()).toBe(true);
    expect(await typing()).toBe(true);
  });

  it("one client address may post perAddressPerMinute messages a minute, whatever sessions it makes up", async () => {
    await restartWith({ perAddressPerMinute: 3, clientAddressHeader: "x-forwarded-for" });
    const from = (addr: string, n: number) =>
      fetch(`${ch.url}/api/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": `203.0.113.9, ${addr}` },
        body: JSON.stringify({ session: crypto.randomUUID(), id: id(100 + n), text: `hello ${n}` }),
      });
    const statuses = [];
    for (let n = 0; n < 5; n++) statuses.push((await from("198.51.100.7", n)).status);
    expect(statuses).toEqual([202, 202, 202, 429, 429]);
    const refused = await from("198.51.100.7", 5);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await refused.json()).error).toMatch(/^too many messages; try again in \d+ s$/);
    // Another client (the proxy's last entry) is not held up; nothing refused was stored.
    expect((await from("198.51.100.8", 6)).status).toBe(202);
    expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC)).toBe(4);
    // Without the header setting, the peer's own address counts (here 127.0.0.1), and a forged header is ignored.
    await restartWith({ perAddressPerMinute: 2 });
    const direct = [];
    for (let n = 0; n < 3; n++) direct.push((await from(`192.0.2.${n}`, 10 + n)).status);
    expect(direct).toEqual([202, 202, 429]);
  });

  it("a message the store could not take (503, nothing stored) does not use up its client's minute", async () => {
    await restartWith({ perAddressPerMinute: 1 });
    const message = { session: SESSION, id: id(300), text: "hello" };
    const holder = spawn(process.execPath, [join(repoRoot, "test/support/hold-lock.mjs"), join(dir, `web-${db - 1}.db`)], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    await new Promise((resolve) => holder.stdout.once("data", resolve));
    const locked = await send(message);
    holder.stdin.end();
    await new Promise((resolve) => holder.once("exit", resolve));
    expect(locked.status).toBe(503);
    expect(locked.headers.get("retry-after")).toBe("5");
    expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC)).toBe(0);
    // The page sends it again after Retry-After: stored, not refused as the client's second message this minute.
    expect((await send(message)).status).toBe(202);
    expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC)).toBe(1);
    expect((await send({ ...message, id: id(301) })).status).toBe(429);
  }, 60_000);

  it("what stores nothing new (a post refused as invalid, the page's resend of a stored id) does not count", async () => {
    await restartWith({ perAddressPerMinute: 2, maxTextLength: 100 });
    const stored = () => ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC);
    expect((await send({ session: SESSION, id: id(400), text: "x".repeat(101) })).status).toBe(400);
    expect((await send({ session: SESSION, id: id(401), text: " " })).status).toBe(400);
    const message = { session: SESSION, id: id(402), text: "first" };
    expect((await send(message)).status).toBe(202);
    // The page never saw that 202 (a dropped connection) and sends it again: answered alike, stored once.
    expect((await send(message)).status).toBe(202);
    expect((await send({ session: SESSION, id: id(403), text: "second" })).status).toBe(202);
    expect(await stored()).toBe(2);
    expect((await send({ session: SESSION, id: id(404), text: "third" })).status).toBe(429);
  });

  it("an IPv6 client is its /64 (it holds the whole block); an IPv4-mapped address is the IPv4 one", () => {
    expect(clientKey("2001:db8:1:2::a")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:0DB8:0001:0002:0000:0000:0000:000b")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("2001:db8:1:3::a")).toBe("2001:db8:1:3::/64");
    expect(clientKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(clientKey("::ffff:198.51.100.7")).toBe("198.51.100.7");
    expect(clientKey("198.51.100.7")).toBe("198.51.100.7");
  });

  it("a proxy's entry with a port, or as a Forwarded element, is the same client whatever its source port", () => {
    expect(clientKey("198.51.100.7:4711")).toBe("198.51.100.7");
    expect(clientKey("198.51.100.7:4712")).toBe("198.51.100.7");
    expect(clientKey("[2001:db8:1:2::a]:4711")).toBe("2001:db8:1:2::/64");
    expect(clientKey("[2001:db8:1:2::b]")).toBe("2001:db8:1:2::/64");
    expect(clientKey('for="[2001:db8:1:2::a]:4711";proto=https')).toBe("2001:db8:1:2::/64");
    expect(clientKey("proto=https;for=198.51.100.7:80")).toBe("198.51.100.7");
    expect(clientKey(" For=198.51.100.7")).toBe("198.51.100.7");
  });

  it("delivers replies from outbound.<agent> to the page, in order, once per reply key", async () => {
    const reply = (text: string, replyKey: string): OutboundReply => ({
      agent: "web",
      chatId: CHAT,
      text,
      inReplyTo: [1],
      replyKey,
      kind: "answer",
    });
    const publish = (r: OutboundReply, n: number) =>
      ch.bus.publish([{
        topic: outboundTopic("web"),
        key: chatKey("web", CHAT),
        payload: r as never,
        idempotencyKey: `t${n}`,
      }]);
    await publish(reply("The Pro plan is $20/month.", "a1"), 1);
    await publish(reply("<b>not html</b>", "a2"), 2);
    await publish(reply("The Pro plan is $20/month.", "a1"), 3);
    await until(async () => (await replies()).length === 2, 10_000, "two replies");
    await new Promise((r) => setTimeout(r, 300));
    const all = await replies();
    expect(all.map((r: { text: string }) => r.text)).toEqual([
      "The Pro plan is $20/month.",
      "<b>not html</b>",
    ]);
    expect(await replies(all[0].seq)).toEqual([all[1]]);
    expect(await replies(0).then((r) => r.length)).toBe(2);
  });

  it("the session id, which opens the conversation, is never stored, logged or shown: the chat id is its hash", async () => {
    expect((await send({ session: SESSION.toUpperCase(), id: id(7), text: "Is my order late?" })).status).toBe(202);
    await ch.bus.publish([{
      topic: outboundTopic("web"),
      key: chatKey("web", CHAT),
      payload: { agent: "web", chatId: CHAT, text: "Let me look.", inReplyTo: [1], replyKey: "k7", kind: "answer" },
      idempotencyKey: "t7",
    }]);
    await until(async () => (await replies()).length === 1, 10_000, "the reply");
    expect(await (await get("/api/history")).json()).toMatchObject({
      lines: [{ from: "me", text: "Is my order late?" }, { from: "bot", text: "Let me look." }],
    });
    expect(CHAT).toMatch(/^[0-9a-f]{32}$/);
    // The chat id (what the dashboard shows) does not open the session.
    expect((await get("/api/replies?after=0", CHAT)).status).toBe(400);
    const files = [`web-${db - 1}.db`, `web-${db - 1}.db-wal`];
    const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(join(dir, f))))).toString("latin1");
    expect(bytes).toContain(CHAT);
    for (const text of [SESSION, SESSION.toUpperCase(), SESSION.replaceAll("-", "")]) {
      expect(bytes).not.toContain(text);
      expect(ch.logs.join("\n")).not.toContain(text);
    }
  });
});

describe("web chat: a read that fails", () => {
  it("is answered with JSON and logged as every line is (redacted), not as Hono's plain-text 500 on stderr", async () => {
    const printed: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => void printed.push(args);
    try {
      await ch.running.store.client.execute("DROP TABLE webchat_replies");
      const res = await get("/api/replies?after=0");
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: "internal error" });
      expect(printed).toEqual([]);
      const line = ch.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "GET /api/replies failed");
      expect(line).toMatchObject({ level: "error" });
      expect(JSON.stringify(line.err)).toContain("webchat_replies");
    } finally {
      console.error = consoleError;
    }
  });
});
