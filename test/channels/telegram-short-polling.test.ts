// `telegram.pollTimeoutS` 0 is refused: getUpdates with timeout 0 is short polling ("for testing purposes only"),
// and an idle agent would call the Bot API as fast as the round trip allows.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelegramAgent } from "../../src/agents/telegram/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { depsFor, telegramAgentOf } from "../channels/harness.ts";

const TOKEN = "7111222333:AAH-fake-token-shortpoll";
const secrets = { TG_TOKEN: TOKEN };
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-review-sp-")));
afterAll(() => cleanup());

describe("short polling", () => {
  it("pollTimeoutS 0 is refused, or an idle poller does not call getUpdates in a tight loop", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const raw = JSON.stringify({
      agents: [{
        name: "tgsp",
        kind: "telegram",
        port: 1,
        telegram: { mode: "polling", tokenEnv: "TG_TOKEN", apiRoot: fake.apiRoot, pollTimeoutS: 0 },
      }],
    });
    let config;
    try {
      config = loadConfig(raw, secrets);
    } catch {
      await fake.close();
      return; // refused: fixed
    }
    const store = await openStore({ url: `file:${join(dir, "sp.db")}` });
    await migrate(store.client);
    const agent = await createTelegramAgent(depsFor(store, config, secrets), telegramAgentOf(config));
    try {
      await agent.start?.();
      await new Promise((r) => setTimeout(r, 1_000));
      expect(fake.callsOf("getUpdates").length).toBeLessThanOrEqual(10);
    } finally {
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 20_000);
});
