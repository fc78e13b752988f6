// Telegram egress: plain text with link previews off, splitting, the send ledger, 429 retry_after, 403 blocked,
// per-chat order (A7, the channel's part), pacing and the typing indicator — real agent, fake Bot API.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTelegramAgent } from "../../src/agents/telegram/mod.ts";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type Bus, createMemoryBus, createSendLedger } from "../../src/bus/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { errors, type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { type Channel, depsFor, startChannel, telegramAgentOf, until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-for-egress-tests-99";
const SECRET = "egress_secret";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: SECRET };

let dir: string;
let cleanup: () => Promise<void>;
let fake: FakeTelegram;
let ch: Channel;
let db = 0;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-tge-")));
afterAll(() => cleanup());
beforeEach(async () => {
  fake = await startFakeTelegram({ token: TOKEN });
  ch = await startChannel({ dir, dbFile: `tge-${db++}.db`, secrets, agent: tgAgent() });
});
const tgAgent = () => ({
  name: "tg",
  kind: "telegram",
  telegram: {
    tokenEnv: "TG_TOKEN",
    secretTokenEnv: "TG_SECRET",
    apiRoot: fake.apiRoot,
    pacing: { perChatMs: 300, perSecond: 30 },
    typing: { refreshMs: 1000, maxMs: 2500 },
  },
});
afterEach(async () => {
  await ch.stop();
  await fake.close();
});

let seq = 0;
function reply(chatId: string, text: string, replyKey = `r${++seq}`): OutboundReply {
  return { agent: "tg", chatId, text, inReplyTo: [seq], replyKey, kind: "answer" };
}
const publish = (...replies: OutboundReply[]) =>
  ch.bus.publish(replies.map((r, i) => ({
    topic: outboundTopic("tg"),
    key: chatKey("tg", r.chatId),
    payload: r as never,
    idempotencyKey: `test:${r.replyKey}:${Date.now()}:${i}:${Math.random()}`,
  })));
const webhook = (update: unknown) =>
  fetch(`${ch.url}/telegram/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
    body: JSON.stringify(update),
  });

describe("telegram egress", () => {
  it("a refused token (401) holds the reply instead of dropping it, /health says so, and a restart with the token fixed sends it", async () => {
    let refused = true;
    fake.script("sendMessage", () => (refused ? errors.unauthorized() : undefined));
    await publish(reply("31", "Your order shipped.", "tok"));
    await until(() => fake.callsOf("sendMessage").length === 1, 10_000, "the refused send");
    await until(async () => (await fetch(`${ch.url}/health`)).status === 503, 5_000, "health degraded");
    const health = await (await fetch(`${ch.url}/health`)).json();
    expect(health.checks.telegram).toEqual({ ok: false, detail: "the Bot API refused the bot token (401)" });
    expect(await ch.rows("SELECT state FROM bus_send_ledger WHERE reply_key = 'tok#0'")).toEqual([{ state: "failed" }]);
    expect(await ch.count("SELECT count(*) FROM bus_dead_letters")).toBe(0);
    // The operator fixes the token and restarts the agent: the held reply goes out.
    refused = false;
    await ch.stop();
    ch = await startChannel({ dir, dbFile: `tge-${db - 1}.db`, secrets, agent: tgAgent() });
    await until(() => fake.sent.length === 1, 60_000, "the reply, after the restart");
    expect(fake.sent.map((s) => s.text)).toEqual(["Your order shipped."]);
    expect((await fetch(`${ch.url}/health`)).status).toBe(200);
  }, 90_000);

  it("a malformed token (404 Not Found) holds the reply as a refused one does, and /health names the code", async () => {
    fake.script("sendMessage", () => ({ status: 404, body: { ok: false, error_code: 404, description: "Not Found" } }));
    await publish(reply("32", "Your order shipped.", "tok404"));
    await until(async () => (await fetch(`${ch.url}/health`)).status === 503, 10_000, "health degraded");
    const health = await (await fetch(`${ch.url}/health`)).json();
    expect(health.checks.telegram).toEqual({ ok: false, detail: "the Bot API refused the bot token (404)" });
    expect(await ch.rows("SELECT state FROM bus_send_ledger WHERE reply_key = 'tok404#0'")).toEqual([{ state: "failed" }]);
    expect(await ch.count("SELECT count(*) FROM bus_dead_letters")).toBe(0);
    expect(fake.callsOf("sendMessage")).toHaveLength(1);
  });

  it("sends plain text with link previews off, once per reply key even when the reply is delivered again", async () => {
    await publish(reply("21", "See https://example.com/pricing for *all* plans.", "once"));
    await until(() => fake.sent.length === 1, 10_000, "the send");
    expect(fake.sent[0]).toMatchObject({ chatId: 21, linkPreviewDisabled: true, parseMode: undefined });
    expect(fake.sent[0]!.text).toBe("See https://example.com/pricing for *all* plans.");
    // The orchestrator publishes the same reply again (a redelivered turn): the ledger holds it back.
    await publish(reply("21", "See https://example.com/pricing for *all* plans.", "once"));
    await publish(reply("21", "a later reply"));
    await until(() => fake.sent.length === 2, 10_000, "the later reply");
    expect(fake.sent.map((s) => s.text)).toEqual([
      "See https://example.com/pricing for *all* plans.",
      "a later reply",
    ]);
    expect(await ch.rows("SELECT reply_key, state FROM bus_send_ledger WHERE reply_key LIKE 'once#%'"))
      .toEqual([
        { reply_key: "once#0", state: "sent" },
      ]);
  });

  it("a reply whose send a kill left unknown: skipped by default (at most once), sent with unknownOutcome 'resend'", async () => {
    // An earlier attempt recorded its intent 2 minutes ago and died before the Bot API answered.
    const died = (key: string) =>
      createSendLedger(ch.running.store, { now: () => Date.now() - 120_000 }).begin(`${key}#0`, 0);
    expect((await died("lost")).status).toBe("send");
    await publish(reply("31", "maybe sent already", "lost"), reply("31", "next"));
    await until(() => fake.sent.length === 1, 10_000, "the next reply");
    expect(fake.sent.map((s) => s.text)).toEqual(["next"]);
    await ch.stop();
    ch = await startChannel({
      dir,
      dbFile: `tge-${db - 1}.db`,
      secrets,
      agent: { ...tgAgent(), telegram: { ...tgAgent().telegram, unknownOutcome: "resend" } },
    });
    expect((await died("resent")).status).toBe("send");
    await publish(reply("31", "sent again", "resent"));
    await until(() => fake.sent.length === 2, 10_000, "the resend");
    expect(fake.sent.map((s) => s.text)).toEqual(["next", "sent again"]);
    expect(await ch.rows("SELECT state FROM bus_send_ledger WHERE reply_key = 'resent#0'")).toEqual([{ state: "sent" }]);
  });

  it("splits a reply over 4,096 characters on paragraph boundaries, in order", async () => {
    const paragraphs = Array.from(
      { length: 3 },
      (_, i) => `Part ${i + 1}. ${"lorem ipsum ".repeat(250)}`.trim(),
    );
    await publish(reply("22", paragraphs.join("\n\n")));
    await until(() => fake.sent.length === 3, 10_000, "three parts");
    expect(fake.sent.map((s) => s.text)).toEqual(paragraphs);
    expect(fake.sent.every((s) => s.text.length <= 4096)).toBe(true);
  });

  it("honours 429 retry_after before sending again", async () => {
    fake.script("sendMessage", (_call, i) => (i === 0 ? errors.tooManyRequests(1) : undefined));
    await publish(reply("23", "after the flood wait"));
    await until(() => fake.sent.length === 1, 10_000, "the retried send");
    const [first, second] = fake.callsOf("sendMessage");
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
    expect(fake.sent[0]!.text).toBe("after the flood wait");
  });

  // The back-off lived only in the pacer's memory: a stop gave the reply back at once, and the next process sent it
  // into the flood wait (another 429; Telegram lengthens the wait of a bot that keeps sending).
  it("a reply waiting out a 429's retry_after when the agent restarts is not sent before it ends", async () => {
    fake.script("sendMessage", (_call, i) => (i === 0 ? errors.tooManyRequests(5) : undefined));
    await publish(reply("26", "your table is booked"));
    await until(() => fake.callsOf("sendMessage").length === 1, 10_000, "the send answered 429");
    await ch.stop(); // a graceful restart (the recycle, an update) while the reply waits
    ch = await startChannel({ dir, dbFile: `tge-${db - 1}.db`, secrets, agent: tgAgent() });
    await until(() => fake.sent.length === 1, 20_000, "the reply, after the restart");
    const [refused, resent] = fake.callsOf("sendMessage");
    expect(resent!.at - refused!.at).toBeGreaterThanOrEqual(5_000);
  });

  it("a group upgraded to a supergroup (400 migrate_to_chat_id) gets the reply in the supergroup, once", async () => {
    fake.script("sendMessage", (call) => (call.body["chat_id"] === -4567 ? errors.migrated(-1001234567890) : undefined));
    await publish(reply("-4567", "to the new supergroup"));
    await until(() => fake.sent.length === 1, 10_000, "the send to the supergroup");
    expect(fake.sent.map((m) => [m.chatId, m.text])).toEqual([[-1001234567890, "to the new supergroup"]]);
    expect(fake.callsOf("sendMessage").map((c) => c.body["chat_id"])).toEqual([-4567, -1001234567890]);
  });

  it("retries 5xx with back-off and sends once it recovers", async () => {
    fake.script("sendMessage", (_call, i) => (i < 2 ? errors.badGateway() : undefined));
    await publish(reply("24", "eventually"));
    await until(() => fake.sent.length === 1, 15_000, "the send after 502s");
    expect(fake.callsOf("sendMessage")).toHaveLength(3);
  });

  // Each failed redelivery counted against the bus's 8 attempts: about 4.6 minutes of 502s dead-lettered the reply,
  // and it was never sent when Telegram came back.
  it("a reply in flight through a 10-minute Bot API outage is sent once Telegram answers, not dead-lettered", async () => {
    // The real agent on the memory bus and a clock 50 times faster than real time; the lease outlasts that clock
    // (the heartbeat runs on a real timer). Retries, attempts and delays are the spine's.
    const SPEED = 50;
    const t0 = Date.now();
    const p0 = performance.now();
    const now = () => Math.round(t0 + (performance.now() - p0) * SPEED);
    const sleep = (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const onAbort = () => {
          clearTimeout(timer);
          reject(signal?.reason);
        };
        const timer = setTimeout(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        }, Math.max(0, ms / SPEED));
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    const OUTAGE_MS = 10 * 60_000;
    fake.script("sendMessage", () => (now() - t0 < OUTAGE_MS ? errors.badGateway() : undefined));
    const url = `file:${join(dir, `tge-outage-${db}.db`)}`;
    const config = loadConfig(
      JSON.stringify({ store: { url }, roles: {}, agents: [{ port: 1, ...tgAgent() }] }),
      secrets,
    );
    const store = await openStore({ url });
    await migrate(store.client);
    const inner = createMemoryBus({ now, pollMs: 10 });
    const bus: Bus = { ...inner, consume: (o) => inner.consume({ ...o, leaseMs: 3_600_000 }) };
    const agent = await createTelegramAgent({ ...depsFor(store, config, secrets), now }, telegramAgentOf(config), { bus, sleep });
    try {
      await agent.start?.();
      const r = reply("61", "your order shipped today");
      await bus.publish([{ topic: outboundTopic("tg"), key: chatKey("tg", "61"), payload: r as never }]);
      await until(() => fake.sent.length === 1 || now() > t0 + OUTAGE_MS + 2 * 60_000, 20_000, "the send or 12 minutes");
      expect(await bus.deadLetters()).toEqual([]);
      expect(fake.sent.map((m) => m.text)).toEqual(["your order shipped today"]);
      // Not hammered meanwhile: 5 tries per delivery, and each redelivery comes as long after as the reply has waited
      // (up to 64 s): about 40 tries. Every 31 s (the tries' 15 s, the last back-off's 16 s) would be about 100.
      expect(fake.callsOf("sendMessage").length).toBeLessThan(60);
    } finally {
      await agent.stop?.();
      store.close();
    }
  });

  it("a group gets at most 20 messages a minute (perGroupMs, 3 s by default) where a private chat gets one a second", async () => {
    await publish(reply("-1009", "one"), reply("-1009", "two"), reply("-1009", "three"));
    await until(() => fake.sent.length === 3, 15_000, "the group's replies");
    const at = fake.callsOf("sendMessage").map((c) => c.at);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(2_990);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(2_990);
  });

  it("a gateway's own error in JSON (no Bot API error_code) is retried like a 5xx, not dropped", async () => {
    fake.script("sendMessage", (_call, i) => (i === 0 ? { status: 504, body: { message: "Endpoint request timed out" } } : undefined));
    await publish(reply("25", "behind a gateway"));
    await until(() => fake.sent.length === 1, 15_000, "the send after the gateway's 504");
    expect(fake.callsOf("sendMessage")).toHaveLength(2);
  });

  it("403 'bot was blocked by the user' marks the contact inactive: no more sends until the user writes again", async () => {
    fake.blocked.add("25");
    await publish(reply("25", "first"));
    await until(
      async () =>
        (await ch.count(
          "SELECT count(*) FROM channel_contacts WHERE chat_id = '25' AND inactive_at IS NOT NULL",
        )) === 1,
      10_000,
      "inactive",
    );
    expect(fake.callsOf("sendMessage")).toHaveLength(1);
    await publish(reply("25", "second"));
    await publish(reply("26", "other chat"));
    await until(() => fake.sent.length === 1, 10_000, "the other chat's reply");
    expect(fake.callsOf("sendMessage").map((c) => c.body["chat_id"])).toEqual([25, 26]);
    expect(
      await ch.rows("SELECT state, last_error FROM bus_send_ledger WHERE reply_key LIKE ?", `r${seq - 1}#0`),
    ).toEqual([
      { state: "failed", last_error: "contact inactive (403: Forbidden: bot was blocked by the user)" },
    ]);
    // The user unblocks and writes again: the contact is active and replies flow.
    fake.blocked.delete("25");
    expect((await webhook(makeUpdate(telegramFixture("text"), { updateId: 9901, chatId: 25 }))).status).toBe(
      200,
    );
    await publish(reply("25", "welcome back"));
    await until(() => fake.sent.some((s) => s.text === "welcome back"), 10_000, "the reply after unblocking");
  });

  it("F1: a token the API root echoes in its errors is stored nowhere", async () => {
    const echo = (code: number) => ({
      status: code,
      body: {
        ok: false,
        error_code: code,
        description: `${code === 403 ? "Forbidden" : "Bad Request"}: rejected POST /bot${TOKEN}/sendMessage`,
      },
    });
    fake.script("sendMessage", (call) => echo(call.body["chat_id"] === 41 ? 400 : 403));
    await publish(reply("41", "hello", "echo400"), reply("42", "hello", "echo403"));
    const inactive = () => ch.count("SELECT count(*) FROM channel_contacts WHERE inactive_at IS NOT NULL");
    await until(async () => (await inactive()) === 1, 10_000, "the blocked contact");
    expect(await ch.rows("SELECT reply_key, last_error FROM bus_send_ledger ORDER BY reply_key")).toEqual([
      { reply_key: "echo400#0", last_error: "400: Bad Request: rejected POST /bot[redacted]/sendMessage" },
      { reply_key: "echo403#0", last_error: "403: Forbidden: rejected POST /bot[redacted]/sendMessage" },
    ]);
    expect(await ch.rows("SELECT chat_id, inactive_reason FROM channel_contacts")).toEqual([
      { chat_id: "42", inactive_reason: "403: Forbidden: rejected POST /bot[redacted]/sendMessage" },
    ]);
    await ch.running.store.checkpoint();
    const file = join(dir, `tge-${db - 1}.db`);
    const stored = [await readFile(file), await readFile(`${file}-wal`).catch(() => Buffer.alloc(0))];
    expect(stored.map((b) => b.toString("latin1").includes(TOKEN))).toEqual([false, false]);
    expect(ch.logs.join("\n")).not.toContain(TOKEN);
  });

  it("my_chat_member 'kicked' marks the contact inactive before any failed send", async () => {
    expect(
      (await webhook(makeUpdate(telegramFixture("my-chat-member-kicked"), { updateId: 9902, chatId: 27 })))
        .status,
    ).toBe(200);
    expect(
      await ch.count(
        "SELECT count(*) FROM channel_contacts WHERE chat_id = '27' AND inactive_at IS NOT NULL",
      ),
    ).toBe(1);
    await publish(reply("27", "nobody reads this"), reply("28", "marker"));
    await until(() => fake.sent.length === 1, 10_000, "the marker");
    expect(fake.callsOf("sendMessage").map((c) => c.body["chat_id"])).toEqual([28]);
  });

  it("per-chat order (A7): chat X's 3 replies go out in order and are not held up by a slow chat Y", async () => {
    fake.delay("sendMessage", (call) => (call.body["chat_id"] === 31 ? 3000 : 0));
    await publish(reply("31", "Y slow"));
    await new Promise((r) => setTimeout(r, 50));
    await publish(reply("30", "X one"), reply("30", "X two"), reply("30", "X three"));
    await until(() => fake.sent.length === 4, 15_000, "all four");
    const xs = fake.sent.filter((s) => s.chatId === 30);
    expect(xs.map((s) => s.text)).toEqual(["X one", "X two", "X three"]);
    const y = fake.sent.find((s) => s.chatId === 31)!;
    expect(xs.every((s) => s.at < y.at)).toBe(true);
    // ~1 msg/s per chat (300 ms in this test's config) between X's messages.
    expect(xs[1]!.at - xs[0]!.at).toBeGreaterThanOrEqual(280);
    expect(xs[2]!.at - xs[1]!.at).toBeGreaterThanOrEqual(280);
  });

  it("shows typing while a turn is in flight, refreshes it, and stops when the reply is sent", async () => {
    expect((await webhook(makeUpdate(telegramFixture("text"), { updateId: 9903, chatId: 32 }))).status).toBe(
      200,
    );
    await until(() => fake.callsOf("sendChatAction").length >= 2, 5_000, "a refreshed typing action");
    expect(fake.callsOf("sendChatAction")[0]!.body).toMatchObject({ chat_id: 32, action: "typing" });
    await publish(reply("32", "here is your answer"));
    await until(() => fake.sent.length === 1, 10_000, "the answer");
    const after = fake.callsOf("sendChatAction").length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(fake.callsOf("sendChatAction").length).toBe(after);
  });

  it("shows no typing for a reply sent within typing.delayMs", async () => {
    expect((await webhook(makeUpdate(telegramFixture("text"), { updateId: 9905, chatId: 34 }))).status).toBe(
      200,
    );
    await publish(reply("34", "an answer from the FAQ"));
    await until(() => fake.sent.some((s) => s.chatId === 34), 5_000, "the answer");
    await new Promise((r) => setTimeout(r, 1500)); // past the 1 s delay
    expect(fake.callsOf("sendChatAction").filter((c) => c.body["chat_id"] === 34)).toHaveLength(0);
  });

  it("stops typing after maxMs when no reply comes", async () => {
    expect((await webhook(makeUpdate(telegramFixture("text"), { updateId: 9904, chatId: 33 }))).status).toBe(
      200,
    );
    await new Promise((r) => setTimeout(r, 3500));
    const n = fake.callsOf("sendChatAction").length;
    expect(n).toBeGreaterThanOrEqual(2);
    expect(n).toBeLessThanOrEqual(4);
    await new Promise((r) => setTimeout(r, 1200));
    expect(fake.callsOf("sendChatAction").length).toBe(n);
  });
});
