// Telegram reports through getWebhookInfo when it cannot deliver to the registered URL (a reverse proxy routing it
// elsewhere, a `webhookPath` that is not the URL's path: 404/502 on every update, retried, the bot silent). The URL
// being ours is not enough: a recent delivery error, newer than the last update the agent took, makes /health
// degraded with Telegram's message; an old one, or one the agent took updates after, does not.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-delivery";
const SECRET = "delivery_secret-4711";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: SECRET };
// The secret token in the URL's path, as some operators do; the agent's route is the default /telegram/webhook.
const URL = `https://bot.example.com/hook/${SECRET}`;

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-tg-delivery-")));
afterAll(() => cleanup());

/** The agent's and the fake Telegram's clock: the wall clock, moved forward by the test. */
let ahead = 0;
const now = () => Date.now() + ahead;

async function withAgent(db: string, fn: (tg: FakeTelegram, port: number, agent: RunningAgent) => Promise<void>) {
  const tg = await startFakeTelegram({ token: TOKEN, now });
  const port = await freePort();
  const config = loadConfig(
    JSON.stringify({
      store: { url: `file:${join(dir, db)}` },
      agents: [{
        name: "telegram",
        kind: "telegram",
        port,
        telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg.apiRoot, webhookUrl: URL },
      }],
    }),
    secrets,
  );
  const agent = await runTestAgent({ config, name: "telegram", secrets, now });
  try {
    await until(async () => (await healthOf(port)).status === 200, 10_000, "the agent healthy");
    await fn(tg, port, agent);
  } finally {
    await agent.stop();
    await tg.close();
  }
}

async function healthOf(port: number): Promise<{ status: number; text: string; detail: string | undefined }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  const text = await res.text();
  const checks = (JSON.parse(text) as { checks?: Record<string, { detail?: string }> }).checks;
  return { status: res.status, text, detail: checks?.["telegram"]?.detail };
}

/** Past getWebhookInfo's 10 s cache: the next /health asks Telegram again. */
const nextRound = () => (ahead += 11_000);

describe("a webhook agent Telegram cannot deliver to", () => {
  it("is degraded while Telegram's last delivery error is recent, naming Telegram's error (redacted)", async () => {
    await withAgent("recent.db", async (tg, port) => {
      nextRound();
      tg.deliveryFailed(`Wrong response from the webhook: 404 Not Found (${URL})`);
      tg.push(makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 5 }));
      tg.push(makeUpdate(telegramFixture("text"), { updateId: 2, chatId: 5 }));
      const h = await healthOf(port);
      expect(h.status, h.text).toBe(503);
      // Telegram dates the error in whole seconds: 0 or 1 s before this /health.
      expect(h.detail?.replace(/ [01] s ago /, " N s ago ")).toBe(
        "Telegram could not deliver updates to https://bot.example.com/hook/[redacted] N s ago (2 waiting): " +
          "Wrong response from the webhook: 404 Not Found (https://bot.example.com/hook/[redacted])",
      );
      expect(h.text).not.toContain(SECRET);
      expect(h.text).not.toContain(TOKEN);
    });
  }, 30_000);

  it("is healthy when the last delivery error is old", async () => {
    await withAgent("old.db", async (tg, port) => {
      nextRound();
      tg.deliveryFailed("Wrong response from the webhook: 502 Bad Gateway", now() - 3_600_000);
      tg.push(makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 5 }));
      const h = await healthOf(port);
      expect(h.status, h.text).toBe(200);
      expect(tg.callsOf("getWebhookInfo").length).toBeGreaterThan(0);
    });
  }, 30_000);

  it("is healthy when the error came before it started (a restart's gap: the proxy answered 502 meanwhile)", async () => {
    await withAgent("restart.db", async (tg, port) => {
      nextRound();
      tg.deliveryFailed("Wrong response from the webhook: 502 Bad Gateway", now() - 60_000);
      tg.push(makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 5 }));
      const h = await healthOf(port);
      expect(h.status, h.text).toBe(200);
    });
  }, 30_000);

  it("is healthy again once it takes an update after the error", async () => {
    await withAgent("taken.db", async (tg, port) => {
      nextRound();
      tg.deliveryFailed("Wrong response from the webhook: 502 Bad Gateway");
      tg.push(makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 5 }));
      expect((await healthOf(port)).status).toBe(503);
      const asked = tg.callsOf("getWebhookInfo").length;
      // Telegram's retry gets through (the proxy fixed): the agent takes the update.
      ahead += 2_000;
      const res = await fetch(`http://127.0.0.1:${port}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
        body: JSON.stringify(makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 5 })),
      });
      expect(res.status).toBe(200);
      const h = await healthOf(port);
      expect(h.status, h.text).toBe(200);
      // Within the cache's 10 s: Telegram was not asked again.
      expect(tg.callsOf("getWebhookInfo").length).toBe(asked);
    });
  }, 30_000);

  it("still sees a new error after the clock stepped back past the last update it took", async () => {
    await withAgent("step.db", async (tg, port) => {
      // The clock an hour ahead when an update comes in, then set right.
      ahead += 3_600_000;
      const res = await fetch(`http://127.0.0.1:${port}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
        body: JSON.stringify(makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 5 })),
      });
      expect(res.status).toBe(200);
      ahead -= 3_600_000;
      expect((await healthOf(port)).status).toBe(200);
      nextRound();
      tg.deliveryFailed("Wrong response from the webhook: 404 Not Found");
      const h = await healthOf(port);
      expect(h.status, h.text).toBe(503);
      expect(h.detail).toContain("Wrong response from the webhook: 404 Not Found");
    });
  }, 30_000);
});

describe("getWebhookInfo's 10 s cache", () => {
  it("does not keep an answer for as long as the clock stepped back: a takeover after the step shows", async () => {
    await withAgent("cache-step.db", async (tg, port) => {
      const asked = tg.callsOf("getWebhookInfo").length;
      ahead -= 3_600_000;
      // Another agent on the token takes the webhook.
      await fetch(`${tg.apiRoot}/bot${TOKEN}/setWebhook`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ url: "https://staging.example.com/telegram/webhook" }),
      });
      nextRound();
      const h = await healthOf(port);
      expect(tg.callsOf("getWebhookInfo").length).toBe(asked + 1);
      expect(h.status, h.text).toBe(503);
    });
  }, 30_000);
});
