// Telegram picks the next update_id at random after a week without updates, and getUpdates hands that update out
// even when it is below the offset the client sends (go-telegram-bot-api#156: a client that only moves its offset
// forward gets it again and again). The poller's offset follows the batch, so the update is confirmed once.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelegramAgent } from "../../src/agents/telegram/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { depsFor, telegramAgentOf, until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-lower-ids";
const secrets = { TG_TOKEN: TOKEN };

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-tg-lower-ids-")));
afterAll(() => cleanup());

describe("telegram polling: update ids that restart lower", () => {
  it("an update below the offset (ids chosen anew after a quiet week) is stored once and confirmed", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const low = makeUpdate(telegramFixture("text"), { updateId: 5_000, chatId: 81, text: "back after a week" });
    let lowServed = 0;
    let quiet = 0;
    // Telegram's behaviour: with offset 900001 it still returns update 5000 until an offset above 5000 confirms it.
    // The first poll with offset 900001 goes to the fake (it confirms 900000 and answers empty after 1 s).
    fake.script("getUpdates", (call) => {
      if (call.body["offset"] !== 900_001 || quiet++ === 0) return undefined;
      lowServed++;
      return { status: 200, body: { ok: true, result: [low] } };
    });
    const store = await openStore({ url: `file:${join(dir, "low.db")}` });
    await migrate(store.client);
    const config = loadConfig(
      JSON.stringify({
        agents: [{
          name: "tgpoll",
          kind: "telegram",
          port: 1,
          telegram: { mode: "polling", tokenEnv: "TG_TOKEN", apiRoot: fake.apiRoot, pollTimeoutS: 1 },
        }],
      }),
      secrets,
    );
    const agent = await createTelegramAgent(depsFor(store, config, secrets), telegramAgentOf(config));
    try {
      fake.push(makeUpdate(telegramFixture("text"), { updateId: 900_000, chatId: 81 }));
      await agent.start!();
      await until(() => fake.callsOf("getUpdates").some((c) => c.body["offset"] === 5_001), 10_000, "offset 5001");
      const rs = await store.client.execute("SELECT idem_key FROM bus_messages WHERE topic = 'inbound' ORDER BY id");
      expect(rs.rows.map((r) => r["idem_key"])).toEqual(["telegram:tgpoll:900000", "telegram:tgpoll:5000"]);
      expect(fake.callsOf("getUpdates").map((c) => c.body["offset"] ?? null).slice(0, 4)).toEqual([null, 900_001, 900_001, 5_001]);
      expect(lowServed).toBe(1);
    } finally {
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 30_000);
});
