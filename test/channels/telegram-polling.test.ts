// Telegram long polling in this process: updates are stored before their offset is confirmed, and a store that
// cannot commit stops the poller (nothing confirmed) until it can.
import { join } from "node:path";
import { ConnectionPool, Sqlite3Client } from "@libsql/client/sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelegramAgent } from "../../src/agents/telegram/mod.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import type { Bus } from "../../src/bus/types.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { depsFor, startChannel, telegramAgentOf, until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-polling";
const secrets = { TG_TOKEN: TOKEN };

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-poll-")));
afterAll(() => cleanup());

/**
 * A store whose connections refuse writes (SQLite's SQLITE_READONLY): a store that cannot commit. `path` is left
 * undefined so the bus writes through these connections instead of opening its own for a local file.
 */
function readOnlyStore(path: string): Store {
  class ReadOnlyPool extends ConnectionPool {
    override acquireSync(forTransaction = false) {
      const db = super.acquireSync(forTransaction);
      db.exec("PRAGMA query_only = ON");
      return db;
    }
  }
  const client = new Sqlite3Client(new ReadOnlyPool(path, { timeout: 5_000 }, 2), "number");
  return {
    client,
    url: `file:${path}`,
    path: undefined,
    durableBatch: (stmts) => client.batch(stmts, "write"),
    checkpoint: () => Promise.resolve(true),
    close: () => client.close(),
  };
}

/** One polling agent (getUpdates timeout 1 s) against `fake`. */
const pollingConfig = (fake: FakeTelegram) =>
  loadConfig(
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

/** The polling agent against `fake`, on a store of its own. */
async function pollingAgent(fake: FakeTelegram, db: string) {
  const store = await openStore({ url: `file:${join(dir, db)}` });
  await migrate(store.client);
  const config = pollingConfig(fake);
  return { store, agent: await createTelegramAgent(depsFor(store, config, secrets), telegramAgentOf(config)) };
}

describe("telegram long polling", () => {
  it(
    "stores each batch before confirming it; a failing store stops the poller without confirming; it resumes after",
    async () => {
      const fake = await startFakeTelegram({ token: TOKEN, maxBatch: 5 });
      const path = join(dir, "poll.db");
      const store = await openStore({ url: `file:${path}` });
      await migrate(store.client);
      const config = pollingConfig(fake);
      const rw = createSqliteBus(store);
      const ro = createSqliteBus(readOnlyStore(path));
      let broken = false;
      const bus: Bus = { ...rw, publish: (m) => (broken ? ro.publish(m) : rw.publish(m)) };
      const logs: string[] = [];
      const agent = await createTelegramAgent(
        depsFor(store, config, secrets, logs),
        telegramAgentOf(config),
        { bus },
      );
      const stored = async () =>
        (await store.client.execute("SELECT payload FROM bus_messages WHERE topic = 'inbound' ORDER BY id"))
          .rows.map((r) => JSON.parse(String(r["payload"])).platformId);
      try {
        fake.push(
          ...Array.from(
            { length: 10 },
            (_, i) => makeUpdate(telegramFixture("text"), { updateId: 100 + i, chatId: 7 }),
          ),
        );
        await agent.start?.();
        expect(fake.callsOf("deleteWebhook")).toHaveLength(1);
        await until(async () => (await stored()).length === 10, 10_000, "10 stored");
        await until(() => fake.confirmed().length === 10, 10_000, "10 confirmed");
        expect(await stored()).toEqual(Array.from({ length: 10 }, (_, i) => String(100 + i)));

        broken = true;
        fake.push(
          ...Array.from(
            { length: 3 },
            (_, i) => makeUpdate(telegramFixture("text"), { updateId: 200 + i, chatId: 7 }),
          ),
        );
        await until(
          async () => (await agent.checks!())["telegram"]!.ok === false,
          10_000,
          "the poller to report the store",
        );
        expect((await agent.checks!())["telegram"]).toEqual({
          ok: false,
          detail: "poller stopped: store unavailable (SQLITE_READONLY)",
        });
        const polls = fake.callsOf("getUpdates").length;
        await new Promise((r) => setTimeout(r, 1500));
        expect(fake.callsOf("getUpdates").length).toBe(polls); // stopped: no fetch, no confirmation
        expect(fake.confirmed()).not.toContain(200);
        expect(fake.pending()).toBe(3);

        broken = false;
        await until(
          async () => (await stored()).length === 13,
          15_000,
          "the held batch stored after recovery",
        );
        await until(() => fake.confirmed().length === 13, 10_000, "13 confirmed");
        expect((await agent.checks!())["telegram"]).toEqual({ ok: true, detail: "polling" });
      } finally {
        await agent.stop?.();
        store.close();
        await fake.close();
      }
    },
    60_000,
  );

  it("a 409 conflict (webhook set elsewhere) or a proxy's error page is reported and retried, never crashes the poller", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const conflict = {
      status: 409,
      body: { ok: false, error_code: 409, description: "Conflict: terminated by other getUpdates request" },
    };
    const proxyError = { status: 502, body: { message: "Bad Gateway" } }; // not a Bot API answer
    fake.script("getUpdates", (_c, i) => (i === 0 ? proxyError : i < 3 ? conflict : undefined));
    const { store, agent } = await pollingAgent(fake, "conflict.db");
    try {
      await agent.start?.();
      await until(
        async () => (await agent.checks!())["telegram"]!.detail?.includes("check telegram.apiRoot") === true,
        5_000,
        "the proxy's error",
      );
      await until(
        async () => (await agent.checks!())["telegram"]!.detail?.includes("conflict") === true,
        5_000,
        "the conflict",
      );
      fake.push(makeUpdate(telegramFixture("text"), { updateId: 300, chatId: 8 }));
      await until(() => fake.confirmed().includes(300), 15_000, "polling to resume");
    } finally {
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 30_000);

  it("an element of getUpdates' result that is not an update (null) is skipped; polling goes on", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const first = makeUpdate(telegramFixture("text"), { updateId: 400, chatId: 8 });
    fake.script("getUpdates", (_c, i) => (i === 0 ? { status: 200, body: { ok: true, result: [null, first] } } : undefined));
    const { store, agent } = await pollingAgent(fake, "null-update.db");
    try {
      await agent.start?.();
      fake.push(makeUpdate(telegramFixture("text"), { updateId: 401, chatId: 8 }));
      await until(() => fake.confirmed().includes(401), 10_000, "the next update confirmed");
      const rows = await store.client.execute("SELECT idem_key FROM bus_messages WHERE topic = 'inbound' ORDER BY id");
      expect(rows.rows.map((r) => r["idem_key"])).toEqual(["telegram:tgpoll:400", "telegram:tgpoll:401"]);
      expect((await agent.checks!())["telegram"]).toEqual({ ok: true, detail: "polling" });
    } finally {
      await agent.stop?.();
      store.close();
      await fake.close();
    }
  }, 30_000);

  it("a long poll that never answers (a connection dropped silently) is given up on: the next poll gets the update", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    let n = 0;
    fake.delay("getUpdates", () => (n++ === 0 ? 600_000 : 0));
    const { store, agent } = await pollingAgent(fake, "stall.db");
    try {
      await agent.start?.();
      await until(() => fake.callsOf("getUpdates").length === 1, 5_000, "the first long poll");
      fake.push(makeUpdate(telegramFixture("text"), { updateId: 500, chatId: 9 }));
      // pollTimeoutS + 10 s, then a second's back-off.
      await until(() => fake.confirmed().includes(500), 20_000, "a later poll");
    } finally {
      const stopped = agent.stop?.();
      await fake.close();
      await stopped;
      store.close();
    }
  }, 40_000);

  it("F1: /health does not serve a token the API root echoed in getUpdates' error", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    fake.script("getUpdates", () => ({
      status: 400,
      body: { ok: false, error_code: 400, description: `Bad Request: rejected POST /bot${TOKEN}/getUpdates` },
    }));
    const ch = await startChannel({
      dir,
      dbFile: "echo.db",
      secrets,
      agent: {
        name: "tgpoll",
        kind: "telegram",
        telegram: { mode: "polling", tokenEnv: "TG_TOKEN", apiRoot: fake.apiRoot },
      },
    });
    try {
      let body = "";
      await until(
        async () => (body = await (await fetch(`${ch.url}/health`)).text()).includes("getUpdates failed"),
        10_000,
        "health degraded",
      );
      expect(JSON.parse(body).checks.telegram).toEqual({
        ok: false,
        detail: "getUpdates failed (400: Bad Request: rejected POST /bot[redacted]/getUpdates)",
      });
      expect(ch.logs.join("\n")).not.toContain(TOKEN);
    } finally {
      await ch.stop();
      await fake.close();
    }
  }, 30_000);
});
