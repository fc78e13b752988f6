// Bot API calls at start and on the polling path on a connection that never answers (a NAT or proxy dropped it
// silently): each has a deadline of its own, so ingress, a stop and setWebhook's retries do not wait for grammY's
// own timeout (500 s).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelegramAgent } from "../../src/agents/telegram/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { depsFor, telegramAgentOf, until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-deadlines";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: "deadlines_secret-1" };

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-tg-deadlines-")));
afterAll(() => cleanup());

/**
 * A fetch to the fake Bot API where the calls `hang` picks never get an answer: the request stays open until its
 * signal aborts (what a silently dropped connection does), as a real fetch would.
 */
function blackholeFetch(hang: (method: string, n: number) => boolean) {
  const counts = new Map<string, number>();
  const held: (() => void)[] = [];
  const f = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = url.split("/").pop() ?? "";
    const n = (counts.get(method) ?? 0) + 1;
    counts.set(method, n);
    if (!hang(method, n)) return globalThis.fetch(input, init);
    return new Promise<Response>((_resolve, reject) => {
      const fail = () => reject(init?.signal?.reason ?? new TypeError("connection reset"));
      init?.signal?.addEventListener("abort", fail, { once: true });
      held.push(fail);
    });
  }) as typeof fetch;
  return { fetch: f, held, calls: (method: string) => counts.get(method) ?? 0, release: () => held.forEach((f) => f()) };
}

async function pollingAgent(
  fake: FakeTelegram,
  db: string,
  f: typeof fetch,
  telegram: Record<string, unknown> = { mode: "polling", pollTimeoutS: 1 },
) {
  const store = await openStore({ url: `file:${join(dir, db)}` });
  await migrate(store.client);
  const config = loadConfig(
    JSON.stringify({
      agents: [{
        name: "tgpoll",
        kind: "telegram",
        port: 1,
        telegram: { tokenEnv: "TG_TOKEN", apiRoot: fake.apiRoot, ...telegram },
      }],
    }),
    secrets,
  );
  const deps = { ...depsFor(store, config, secrets), fetch: f };
  const agent = await createTelegramAgent(deps, telegramAgentOf(config));
  const stored = async () =>
    (await store.client.execute("SELECT idem_key FROM bus_messages WHERE topic = 'inbound'")).rows.map((r) =>
      String(r["idem_key"])
    );
  return { store, agent, stored };
}

describe("Bot API calls at start and on the polling path that never answer", () => {
  it("a deleteWebhook at start that never answers does not hold polling (and /health) for grammY's 500 s", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const net = blackholeFetch((method, n) => method === "deleteWebhook" && n === 1);
    const { store, agent, stored } = await pollingAgent(fake, "start-hang.db", net.fetch);
    const started = agent.start!();
    try {
      fake.push(makeUpdate(telegramFixture("text"), { updateId: 9001, chatId: 71 }));
      // A stalled long poll is given up on after pollTimeoutS + 10 s (11 s here); the start's call deserves no more.
      let health = "";
      await until(async () => {
        health = JSON.stringify((await agent.checks!())["telegram"]);
        return (await stored()).includes("telegram:tgpoll:9001");
      }, 20_000, "the update to be stored while the start's deleteWebhook hangs").catch((err) => {
        throw new Error(
          `${(err as Error).message}; getUpdates calls: ${fake.callsOf("getUpdates").length}; /health telegram: ${health}`,
        );
      });
    } finally {
      net.release();
      await started.catch(() => {});
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 40_000);

  it("a deleteWebhook after a 409 (webhook set) that never answers does not stop polling for 500 s", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const conflict = {
      status: 409,
      body: {
        ok: false,
        error_code: 409,
        description:
          "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
      },
    };
    fake.script("getUpdates", (_c, i) => (i === 0 ? conflict : undefined));
    // The start's deleteWebhook answers; the poller's, after the 409, is on a dropped connection.
    const net = blackholeFetch((method, n) => method === "deleteWebhook" && n === 2);
    const { store, agent, stored } = await pollingAgent(fake, "conflict-hang.db", net.fetch);
    try {
      await agent.start!();
      await until(() => net.calls("deleteWebhook") === 2, 5_000, "the poller's deleteWebhook after the 409");
      fake.push(makeUpdate(telegramFixture("text"), { updateId: 9101, chatId: 72 }));
      await until(async () => (await stored()).includes("telegram:tgpoll:9101"), 20_000, "the update to be stored")
        .catch((err) => {
          throw new Error(`${(err as Error).message}; getUpdates calls: ${fake.callsOf("getUpdates").length}`);
        });
    } finally {
      net.release();
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 40_000);

  it("a SIGTERM while the poller's deleteWebhook hangs stops the agent promptly", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    fake.script("getUpdates", (_c, i) =>
      i === 0
        ? {
          status: 409,
          body: {
            ok: false,
            error_code: 409,
            description:
              "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
          },
        }
        : undefined);
    const net = blackholeFetch((method, n) => method === "deleteWebhook" && n === 2);
    const { store, agent } = await pollingAgent(fake, "conflict-stop.db", net.fetch);
    try {
      await agent.start!();
      await until(() => net.calls("deleteWebhook") === 2, 5_000, "the poller's deleteWebhook after the 409");
      const t0 = Date.now();
      const result = await Promise.race([
        agent.stop!().then(() => "stopped"),
        new Promise((r) => setTimeout(() => r("still stopping"), 5_000)),
      ]);
      expect(`${result} after ${Date.now() - t0} ms`).toMatch(/^stopped/);
    } finally {
      net.release();
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 40_000);

  it("webhook mode: a setWebhook at start that never answers is asked again, not after grammY's 500 s", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const net = blackholeFetch((method, n) => method === "setWebhook" && n === 1);
    const { store, agent } = await pollingAgent(fake, "hook-hang.db", net.fetch, {
      mode: "webhook",
      secretTokenEnv: "TG_SECRET",
      webhookUrl: "https://bot.example.com/telegram/webhook",
    });
    try {
      await agent.start!();
      let health = "";
      await until(async () => {
        health = JSON.stringify((await agent.checks!())["telegram"]);
        return fake.webhook() !== undefined;
      }, 20_000, "the webhook to be registered").catch((err) => {
        throw new Error(`${(err as Error).message}; setWebhook calls: ${net.calls("setWebhook")}; /health telegram: ${health}`);
      });
    } finally {
      net.release();
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 40_000);
});
