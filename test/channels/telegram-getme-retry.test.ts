// getMe is asked until it answers: after one failed call at start, every `/cmd@other_bot` in a group was taken as
// ours for the life of the process (core.telegram.org/bots/features#commands).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errors, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { startChannel, until } from "../channels/harness.ts";

const TOKEN = "7111222333:AAH-fake-token-getme";
const SECRET = "getme_secret-123";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: SECRET };
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-review-getme-")));
afterAll(() => cleanup());

describe("getMe at start", () => {
  it("a getMe that failed once at start is asked again; later /help@other_bot is not answered", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    fake.script("getMe", (_c, i) => (i === 0 ? errors.badGateway() : undefined));
    const ch = await startChannel({
      dir,
      secrets,
      agent: {
        name: "tg",
        kind: "telegram",
        telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: fake.apiRoot },
      },
    });
    try {
      // Give a retry a fair chance.
      await until(() => fake.callsOf("getMe").length > 1, 8_000, "a second getMe").catch(() => {});
      const u = makeUpdate(telegramFixture("text"), { updateId: 81, chatId: -1008, text: "/help@other_bot" });
      (u["message"] as Record<string, unknown>)["chat"] = { id: -1008, type: "supergroup", title: "G" };
      const res = await fetch(`${ch.url}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
        body: JSON.stringify(u),
      });
      expect(res.status).toBe(200);
      expect((await ch.inbound()).map((m) => [m["kind"], m["text"]])).toEqual([]);
    } finally {
      await ch.stop();
      await fake.close();
    }
  }, 30_000);
});
