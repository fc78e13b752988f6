// Review: poller.ts skips an update readUpdate cannot read ("telegram sent an update without update_id; it is
// skipped"), but then computes the next offset with `(u as {update_id}).update_id` over the raw batch: a `null`
// element throws a TypeError, the loop ends ("telegram poller crashed") and the agent never polls again.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelegramAgent } from "../../src/agents/telegram/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { depsFor, telegramAgentOf, until } from "../channels/harness.ts";

const TOKEN = "7111222333:AAH-fake-token-review";
const secrets = { TG_TOKEN: TOKEN };
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-rv-poll-")));
afterAll(() => cleanup());

describe("review: poller and an unreadable element in getUpdates' result", () => {
  it("skips it and keeps polling: later updates are stored", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const store = await openStore({ url: `file:${join(dir, "poll.db")}` });
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
    const logs: string[] = [];
    let served = false;
    fake.script("getUpdates", () => {
      if (served) return undefined;
      served = true;
      return { status: 200, body: { ok: true, result: [null, makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 7 })] } };
    });
    const agent = await createTelegramAgent(depsFor(store, config, secrets, logs), telegramAgentOf(config));
    const stored = async () =>
      (await store.client.execute("SELECT count(*) AS n FROM bus_messages WHERE topic = 'inbound'")).rows[0]!["n"];
    try {
      await agent.start?.();
      fake.push(makeUpdate(telegramFixture("text"), { updateId: 2, chatId: 7 }));
      await until(async () => Number(await stored()) === 2, 8_000, "both real updates stored").catch(() => {});
      expect({
        stored: Number(await stored()),
        health: (await agent.checks!())["telegram"],
        crashed: logs.some((l) => l.includes("telegram poller crashed")),
      }).toEqual({ stored: 2, health: { ok: true, detail: "polling" }, crashed: false });
    } finally {
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 30_000);
});
