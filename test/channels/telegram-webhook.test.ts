// Telegram webhook ingress (RELIABILITY.md A1, A2, A3, A8): secret token, dedup by update_id, fast acks,
// staleness, non-text and commands — against a real agent on a real store, with the fake Bot API behind it.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, INBOUND_TOPIC, outboundTopic } from "../../src/bus/envelopes.ts";
import { loadConfig } from "../../src/config.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { type Channel, depsFor, percentile, startChannel, telegramAgentOf, until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-for-tests-0123456789";
const SECRET = "webhook_secret-ABC123";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: SECRET };

let dir: string;
let cleanup: () => Promise<void>;
let fake: FakeTelegram;
let ch: Channel;
let db = 0;

beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-tg-")));
afterAll(() => cleanup());
beforeEach(async () => {
  fake = await startFakeTelegram({ token: TOKEN });
  ch = await startChannel({
    dir,
    dbFile: `tg-${db++}.db`,
    secrets,
    roles: { support: { kind: "support", systemPrompt: "Be nice.", greeting: "Welcome to Example Co!" } },
    agent: {
      name: "tg",
      kind: "telegram",
      role: "support",
      telegram: {
        tokenEnv: "TG_TOKEN",
        secretTokenEnv: "TG_SECRET",
        apiRoot: fake.apiRoot,
        staleAfterS: 3600,
      },
    },
  });
});
afterEach(async () => {
  await ch.stop();
  await fake.close();
});

const post = (body: unknown, secret: string | null = SECRET) =>
  fetch(`${ch.url}/telegram/webhook`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(secret === null ? {} : { "X-Telegram-Bot-Api-Secret-Token": secret }),
    },
    body: JSON.stringify(body),
  });

const inboundCount = () => ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC);

describe("telegram webhook: authenticity (A1)", () => {
  it("answers 401 and stores nothing without the secret header or with a wrong one", async () => {
    const update = makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 11 });
    for (const secret of [null, "", "wrong-secret", `${SECRET}x`, SECRET.slice(0, -1)]) {
      const res = await post(update, secret);
      expect(res.status).toBe(401);
    }
    expect(await inboundCount()).toBe(0);
    expect(await ch.count("SELECT count(*) FROM bus_messages")).toBe(0);
    expect(fake.callsOf("sendMessage")).toHaveLength(0);
    expect((await post(update)).status).toBe(200);
    expect(await inboundCount()).toBe(1);
  });

  it("refuses to start in webhook mode without a secret (config and agent)", async () => {
    const agent = { name: "tg", kind: "telegram", port: 9000, telegram: { tokenEnv: "TG_TOKEN" } };
    expect(() => loadConfig(JSON.stringify({ agents: [agent] }), secrets)).toThrow(
      /webhook mode needs a secret token/,
    );
    const { telegram } = await import("../../src/agents/telegram/mod.ts");
    const config = loadConfig(
      JSON.stringify({ agents: [{ ...agent, telegram: { mode: "polling", tokenEnv: "TG_TOKEN" } }] }),
      secrets,
    );
    // A config the schema would reject, built by hand to reach the agent's own check.
    const polling = telegramAgentOf(config);
    const webhookAgent = { ...polling, telegram: { ...polling.telegram, mode: "webhook" as const } };
    await expect(
      Promise.resolve().then(() => telegram.create(depsFor(ch.running.store, config, secrets), webhookAgent)),
    ).rejects.toThrow(/Cannot start agent "tg": webhook mode needs a secret token/);
  });

  it("refuses a secret token Telegram would not accept (1-256 of A-Z a-z 0-9 _ -), naming the variable, not the value", async () => {
    const { telegram } = await import("../../src/agents/telegram/mod.ts");
    const agent = {
      name: "tg",
      kind: "telegram",
      port: 9000,
      telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", webhookUrl: "https://bot.example/tg" },
    };
    const config = loadConfig(JSON.stringify({ agents: [agent] }), secrets);
    // The config's check (test/config) refuses such a value first; the agent checks the value it is given too.
    const create = (secret: string) => {
      const withSecret = { ...secrets, TG_SECRET: secret };
      return Promise.resolve().then(() =>
        telegram.create(depsFor(ch.running.store, config, withSecret), telegramAgentOf(config))
      );
    };
    for (const bad of ["has spaces", "semi;colon", "pässwort", "a".repeat(257)]) {
      const err = await create(bad).then(() => undefined, (e: Error) => e);
      expect(err?.message).toBe(
        'Cannot start agent "tg": the secret token in TG_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -',
      );
    }
    const longest = await create("A".repeat(256));
    expect(typeof longest.routes).toBe("function");
    await longest.stop?.();
  });
});

describe("telegram webhook: duplicates (A2)", () => {
  it("the same update_id 5× in a row and 5× concurrently: all 2xx, one inbound row", async () => {
    const update = makeUpdate(telegramFixture("text"), { updateId: 4242, chatId: 12 });
    for (let i = 0; i < 5; i++) expect((await post(update)).status).toBe(200);
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => post(update)));
    expect(concurrent.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await inboundCount()).toBe(1);
    const [msg] = await ch.inbound();
    expect(msg).toMatchObject({
      channel: "telegram",
      agent: "tg",
      chatId: "12",
      platformId: "4242",
      kind: "text",
    });
  });

  it("dedups by membership: a random (lower) update_id after a high one is still stored", async () => {
    expect((await post(makeUpdate(telegramFixture("text"), { updateId: 900_000_000, chatId: 13 }))).status)
      .toBe(200);
    expect((await post(makeUpdate(telegramFixture("text"), { updateId: 17, chatId: 13 }))).status).toBe(200);
    expect(await inboundCount()).toBe(2);
  });
});

describe("telegram webhook: ack latency (A3)", () => {
  it("50 updates over 10 chats while the model takes 120 s: p99 < 2 s, every update stored", async () => {
    // A stand-in orchestrator whose "model call" takes 120 s: it holds every delivery it claims.
    const never = new Promise<void>(() => {});
    let claimed = 0;
    const slow = ch.bus.consume({
      topic: INBOUND_TOPIC,
      group: "orchestrator",
      handler: async () => {
        claimed++;
        await Promise.race([never, new Promise((r) => setTimeout(r, 120_000))]);
      },
    });
    const latencies: number[] = [];
    await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const update = makeUpdate(telegramFixture("text"), {
        updateId: 5000 + i,
        chatId: 100 + (i % 10),
        text: `question ${i}`,
      });
      await new Promise((r) => setTimeout(r, i * 10));
      const t = performance.now();
      const res = await post(update);
      latencies.push(performance.now() - t);
      expect(res.status).toBe(200);
    }));
    expect(percentile(latencies, 99)).toBeLessThan(2_000);
    expect(await inboundCount()).toBe(50);
    await until(() => claimed >= 1, 5_000, "the slow consumer to claim");
    await slow.stop(100);
  }, 60_000);
});

describe("telegram webhook: staleness (A8)", () => {
  it("an update older than the cutoff is recorded as stale, never published for a model call", async () => {
    const old = makeUpdate(telegramFixture("text"), {
      updateId: 7001,
      chatId: 14,
      date: Math.floor(Date.now() / 1000) - 7200,
    });
    expect((await post(old)).status).toBe(200);
    expect(await inboundCount()).toBe(0);
    expect(await ch.rows("SELECT platform_id, chat_id, reason, detail FROM channel_skipped")).toEqual([
      { platform_id: "7001", chat_id: "14", reason: "stale", detail: "text" },
    ]);
    expect((await post(old)).status).toBe(200);
    expect(await ch.count("SELECT count(*) FROM channel_skipped")).toBe(1);
  });
});

describe("telegram webhook: commands and non-text", () => {
  it("/start is published as a command for the role logic (which greets); the channel sends nothing itself", async () => {
    expect((await post(makeUpdate(telegramFixture("start"), { updateId: 8001, chatId: 15 }))).status).toBe(
      200,
    );
    expect(await ch.inbound()).toEqual([
      expect.objectContaining({ kind: "command", text: "/start", chatId: "15", userName: "Ada" }),
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.callsOf("sendMessage")).toEqual([]);
  });

  it("/help, /reset, /human (with our @botname) are commands; other slash text is text; another bot's commands are not ours", async () => {
    expect(fake.callsOf("getMe")).toHaveLength(1); // at start: the bot's username
    const texts = ["/help", "/reset@example_bot", "/human please", "/unknown thing", "/help@other_bot"];
    for (const [i, text] of texts.entries()) {
      expect(
        (await post(makeUpdate(telegramFixture("text"), { updateId: 8100 + i, chatId: 16, text }))).status,
      ).toBe(200);
    }
    expect((await ch.inbound()).map((m) => [m["kind"], m["text"]])).toEqual([
      ["command", "/help"],
      ["command", "/reset"],
      ["command", "/human please"],
      ["text", "/unknown thing"],
    ]);
    expect(await ch.rows("SELECT platform_id, detail FROM channel_skipped")).toEqual([
      { platform_id: "8104", detail: "command for another bot" },
    ]);
  });

  it("stickers and voice go to the role for its polite notice; a photo's caption is the question; edits and channel posts are recorded, not answered", async () => {
    const updates = [
      makeUpdate(telegramFixture("sticker"), { updateId: 8201, chatId: 17 }),
      makeUpdate(telegramFixture("voice"), { updateId: 8202, chatId: 17 }),
      makeUpdate(telegramFixture("photo-caption"), { updateId: 8203, chatId: 17 }),
      makeUpdate(telegramFixture("edited"), { updateId: 8204, chatId: 17 }),
      makeUpdate(telegramFixture("channel-post"), { updateId: 8205 }),
      { update_id: 8206, message: { message_id: 1, chat: "not an object" } },
    ];
    for (const u of updates) expect((await post(u)).status).toBe(200);
    expect((await ch.inbound()).map((m) => [m["kind"], m["text"]])).toEqual([
      ["unsupported", "[sticker]"],
      ["unsupported", "[voice]"],
      ["text", "Is this the right cable for my router?"],
    ]);
    expect(await ch.rows("SELECT platform_id, reason, detail FROM channel_skipped ORDER BY platform_id"))
      .toEqual([
        { platform_id: "8204", reason: "ignored", detail: "edited_message" },
        { platform_id: "8205", reason: "ignored", detail: "channel_post" },
        { platform_id: "8206", reason: "ignored", detail: "unreadable" },
      ]);
    expect(fake.callsOf("sendMessage")).toEqual([]);
  });

  it("a body that is not an update is refused with 400 and stores nothing", async () => {
    expect((await post({ hello: "world" })).status).toBe(400);
    const bad = await fetch(`${ch.url}/telegram/webhook`, {
      method: "POST",
      headers: { "X-Telegram-Bot-Api-Secret-Token": SECRET },
      body: "{not json",
    });
    expect(bad.status).toBe(400);
    // Over 1 MiB (a real update is a few KB): 413, unread, even when it is a well-formed update.
    const huge = makeUpdate(telegramFixture("text"), { updateId: 77, chatId: 5, text: "x".repeat(1_100_000) });
    expect((await post(huge)).status).toBe(413);
    expect(await ch.count("SELECT count(*) FROM bus_messages")).toBe(0);
  });

  it("the token never appears in logs, even when the Bot API fails", async () => {
    fake.script(
      "sendMessage",
      () => ({ status: 500, body: { ok: false, error_code: 500, description: "Internal Server Error" } }),
    );
    const reply = {
      agent: "tg",
      chatId: "18",
      text: "hello",
      inReplyTo: [1],
      replyKey: "tok",
      kind: "answer",
    };
    await ch.bus.publish([{
      topic: outboundTopic("tg"),
      key: chatKey("tg", "18"),
      payload: reply,
      idempotencyKey: "tok",
    }]);
    await until(() => fake.callsOf("sendMessage").length >= 2, 10_000, "retries");
    expect(ch.logs.join("")).not.toContain(TOKEN);
    expect(ch.logs.join("")).not.toContain(TOKEN.split(":")[1]!);
  });
});
