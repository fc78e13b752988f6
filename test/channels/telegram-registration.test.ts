// Registration with the Bot API is asked again until it is accepted:
// - polling: a deleteWebhook that failed at start left the webhook set and every getUpdates answered 409; the poller
//   now deletes a webhook it finds set.
// - webhook: a setWebhook that failed at start was never retried while /health said ok; it is asked again, and
//   /health says the webhook is not registered meanwhile.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelegramAgent } from "../../src/agents/telegram/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { errors, type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { depsFor, telegramAgentOf, until } from "../channels/harness.ts";

const TOKEN = "7111222333:AAH-fake-token-review";
const SECRET = "review_secret-123";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: SECRET };

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-tg-")));
afterAll(() => cleanup());

async function agentFor(fake: FakeTelegram, db: string, telegram: Record<string, unknown>) {
  const store = await openStore({ url: `file:${join(dir, db)}` });
  await migrate(store.client);
  const config = loadConfig(
    JSON.stringify({
      agents: [{ name: "tgr", kind: "telegram", port: 1, telegram: { tokenEnv: "TG_TOKEN", apiRoot: fake.apiRoot, ...telegram } }],
    }),
    secrets,
  );
  return { store, agent: await createTelegramAgent(depsFor(store, config, secrets), telegramAgentOf(config)) };
}

describe("start-up registration", () => {
  it("polling: a deleteWebhook that fails once at start does not leave the poller in 409 forever", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    // A webhook left from an earlier webhook-mode deployment.
    await fetch(`${fake.apiRoot}/bot${TOKEN}/setWebhook`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: "https://old.example.com/telegram/webhook" }),
    });
    fake.script("deleteWebhook", (_c, i) => (i === 0 ? errors.badGateway() : undefined));
    const { store, agent } = await agentFor(fake, "poll-409.db", { mode: "polling", pollTimeoutS: 1 });
    try {
      await agent.start?.();
      fake.push(makeUpdate(telegramFixture("text"), { updateId: 900, chatId: 8 }));
      await until(async () => {
        const rs = await store.client.execute("SELECT count(*) AS n FROM bus_messages WHERE topic = 'inbound'");
        return Number(rs.rows[0]!["n"]) === 1;
      }, 15_000, "the update to be stored").catch(() => {});
      expect(fake.callsOf("deleteWebhook").length).toBeGreaterThan(1);
      expect(fake.webhook()).toBeUndefined();
      const rs = await store.client.execute("SELECT idem_key FROM bus_messages WHERE topic = 'inbound'");
      expect(rs.rows.map((r) => r["idem_key"])).toEqual(["telegram:tgr:900"]);
    } finally {
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 30_000);

  it("webhook: a setWebhook that fails at start is retried, or at least /health says the webhook is not registered", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    fake.script("setWebhook", (_c, i) => (i === 0 ? errors.badGateway() : undefined));
    const { store, agent } = await agentFor(fake, "hook-fail.db", {
      mode: "webhook",
      secretTokenEnv: "TG_SECRET",
      webhookUrl: "https://bot.example.com/telegram/webhook",
    });
    try {
      await agent.start?.();
      let health: { ok: boolean; detail?: string } | undefined;
      await until(async () => {
        health = (await agent.checks!())["telegram"];
        return fake.webhook() !== undefined || health?.ok === false;
      }, 10_000, "a retry or an unhealthy check").catch(() => {});
      const registered = fake.webhook()?.url === "https://bot.example.com/telegram/webhook" &&
        fake.webhook()?.secretToken === SECRET;
      expect({ registered, healthy: health?.ok }).not.toEqual({ registered: false, healthy: true });
    } finally {
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 30_000);
});
