// RELIABILITY.md A4: the store cannot commit (read-only, disk full, lock held past the busy timeout, a libSQL server
// gone) → the webhook answers 503 with Retry-After and never 2xx without a committed row; after recovery the
// platform's redelivery is stored exactly once.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Hono } from "hono";
import { ConnectionPool, Sqlite3Client } from "@libsql/client/sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelegramAgent } from "../../src/agents/telegram/mod.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { runTestAgent } from "../support/agent.ts";
import { repoRoot } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { runSqldTests, startSqld } from "../support/sqld.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "./fixtures.ts";
import { depsFor, startChannel, telegramAgentOf, until } from "./harness.ts";

const TOKEN = "7111222333:AAH-fake-token-store-tests";
const SECRET = "store_secret";
const secrets = { TG_TOKEN: TOKEN, TG_SECRET: SECRET };
const agent = (apiRoot: string) => ({
  name: "tg",
  kind: "telegram",
  telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot },
});

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-a4-")));
afterAll(() => cleanup());

const post = (url: string, update: unknown) =>
  fetch(`${url}/telegram/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
    body: JSON.stringify(update),
  });

/** Redelivers like Telegram does (non-2xx → again later) until a 2xx, or gives up after `ms`. */
async function redeliver(url: string, update: unknown, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await post(url, update);
    if (res.ok || Date.now() > deadline) return res.status;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("store unavailable (A4)", () => {
  it("lock held by another process past the busy timeout → 503 + Retry-After, zero rows", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const ch = await startChannel({ dir, dbFile: "locked.db", secrets, agent: agent(fake.apiRoot) });
    try {
      const holder = spawn(process.execPath, [
        join(repoRoot, "test/support/hold-lock.mjs"),
        join(dir, "locked.db"),
      ], { stdio: ["pipe", "pipe", "inherit"] });
      await new Promise((resolve) => holder.stdout.once("data", resolve));
      const res = await post(ch.url, makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 1 }));
      holder.stdin.end();
      await new Promise((resolve) => holder.on("exit", resolve));
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(await ch.count("SELECT count(*) FROM bus_messages")).toBe(0);
    } finally {
      await ch.stop();
      await fake.close();
    }
  }, 60_000);

  // The failed commit must not poison the agent's connection: libsql leaves a statement that failed with
  // SQLITE_BUSY un-reset (later COMMITs fail with "SQL statements in progress"); src/store drops such connections.
  it("after the lock is released the redelivery is stored exactly once", async () => {
    const fake = await startFakeTelegram({ token: TOKEN });
    const ch = await startChannel({ dir, dbFile: "locked-recovery.db", secrets, agent: agent(fake.apiRoot) });
    try {
      const update = makeUpdate(telegramFixture("text"), { updateId: 2, chatId: 2 });
      const holder = spawn(process.execPath, [
        join(repoRoot, "test/support/hold-lock.mjs"),
        join(dir, "locked-recovery.db"),
      ], { stdio: ["pipe", "pipe", "inherit"] });
      await new Promise((resolve) => holder.stdout.once("data", resolve));
      expect((await post(ch.url, update)).status).toBe(503);
      holder.stdin.end();
      await new Promise((resolve) => holder.on("exit", resolve));
      expect(await redeliver(ch.url, update, 5_000)).toBe(200);
      expect(await redeliver(ch.url, update, 1_000)).toBe(200);
      expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = 'inbound'")).toBe(1);
    } finally {
      await ch.stop();
      await fake.close();
    }
  }, 60_000);

  it("read-only database (SQLite's own SQLITE_READONLY) → 503 + Retry-After, zero rows", async () => {
    // Root ignores file modes and Linux refuses to remount a file system read-only under open files, so the
    // agent's publishing connections are made read-only instead (PRAGMA query_only): SQLite itself refuses
    // the write with SQLITE_READONLY. (`path: undefined` makes the bus write through these connections rather
    // than open its own for a local file.)
    const path = join(dir, "readonly.db");
    const store = await openStore({ url: `file:${path}` });
    await migrate(store.client);
    class ReadOnlyPool extends ConnectionPool {
      override acquireSync(forTransaction = false) {
        const db = super.acquireSync(forTransaction);
        db.exec("PRAGMA query_only = ON");
        return db;
      }
    }
    const pool = new ReadOnlyPool(path, { timeout: 5_000 }, 2);
    const roClient = new Sqlite3Client(pool, "number");
    const roStore: Store = {
      client: roClient,
      url: `file:${path}`,
      path: undefined,
      durableBatch: (stmts) => roClient.batch(stmts, "write"),
      checkpoint: () => Promise.resolve(true),
      close: () => roClient.close(),
    };
    const fake = await startFakeTelegram({ token: TOKEN });
    const config = loadConfig(JSON.stringify({ agents: [{ port: 1, ...agent(fake.apiRoot) }] }), secrets);
    const logs: string[] = [];
    const deps = depsFor(store, config, secrets, logs);
    // Subscriptions and egress on the writable store; only the ingress publish goes through read-only connections.
    const readOnly = createSqliteBus(roStore);
    const bus = { ...createSqliteBus(store), publish: readOnly.publish };
    const instance = await createTelegramAgent(deps, telegramAgentOf(config), { bus });
    const app = new Hono();
    instance.routes?.(app);
    try {
      const res = await app.request("/telegram/webhook", {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
        body: JSON.stringify(makeUpdate(telegramFixture("text"), { updateId: 3, chatId: 3 })),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(logs.join("")).toContain("SQLITE_READONLY");
      expect(Number((await store.client.execute("SELECT count(*) AS n FROM bus_messages")).rows[0]!["n"]))
        .toBe(0);
    } finally {
      await instance.stop?.();
      store.close();
      await fake.close();
    }
  });

  const isRoot = process.getuid?.() === 0;
  it.skipIf(!isRoot)(
    "disk full (a full tmpfs) → 503 + Retry-After, zero rows; after space is freed the redelivery is stored once",
    async () => {
      const mnt = join(dir, "full-mnt");
      await mkdir(mnt);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt]);
      const fake = await startFakeTelegram({ token: TOKEN });
      const ch = await startChannel({ dir: mnt, dbFile: "full.db", secrets, agent: agent(fake.apiRoot) });
      try {
        const update = makeUpdate(telegramFixture("text"), {
          updateId: 4,
          chatId: 4,
          text: "x".repeat(3000),
        });
        spawnSync("dd", ["if=/dev/zero", `of=${join(mnt, "filler")}`, "bs=64k"]); // stops at ENOSPC
        // Fill what the WAL could still take with other updates until the store refuses.
        let status = 200;
        for (let i = 0; i < 2000 && status === 200; i++) {
          status = (await post(
            ch.url,
            makeUpdate(telegramFixture("text"), { updateId: 1000 + i, chatId: 5, text: "y".repeat(3000) }),
          )).status;
        }
        const before = await ch.count("SELECT count(*) FROM bus_messages WHERE topic = 'inbound'");
        const res = await post(ch.url, update);
        expect(res.status).toBe(503);
        expect(res.headers.get("retry-after")).toBe("5");
        expect(ch.logs.join("")).toMatch(/SQLITE_FULL|SQLITE_IOERR/);
        await rm(join(mnt, "filler"));
        expect(await redeliver(ch.url, update, 20_000)).toBe(200);
        expect(await redeliver(ch.url, update, 1_000)).toBe(200);
        expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = 'inbound'")).toBe(before + 1);
        expect(await ch.count("SELECT count(*) FROM bus_messages WHERE idem_key = 'telegram:tg:4'")).toBe(1);
      } finally {
        await ch.stop().catch(() => {});
        await fake.close();
        execFileSync("umount", ["-l", mnt]);
      }
    },
    120_000,
  );
});

// The scale-out path: the libSQL server itself goes away (a crash, a lost host) under running agents.
describe.runIf(runSqldTests)("libSQL server down", () => {
  it("webhooks get 503 + Retry-After while it is down; once it is back the redelivery is stored and answered once", async () => {
    const sqld = await startSqld();
    const fake = await startFakeTelegram({ token: TOKEN });
    const faq = join(dir, "outage-faq.json");
    await writeFile(faq, JSON.stringify({ entries: [{ questions: ["How do I reset my password?"], answer: "Use the link." }] }));
    const [tgPort, orchestratorPort] = [await freePort(), await freePort()];
    const config = loadConfig(
      JSON.stringify({
        store: { url: sqld.url },
        roles: { support: { kind: "support", systemPrompt: "Be nice.", faq } },
        agents: [
          { name: "orchestrator", kind: "orchestrator", port: orchestratorPort },
          { ...agent(fake.apiRoot), role: "support", port: tgPort },
        ],
      }),
      secrets,
    );
    const running = [
      await runTestAgent({ config, name: "tg", secrets }),
      await runTestAgent({ config, name: "orchestrator", secrets }),
    ];
    const url = `http://127.0.0.1:${tgPort}`;
    const question = (updateId: number, chatId: number) =>
      makeUpdate(telegramFixture("text"), { updateId, chatId, text: "How do I reset my password?" });
    try {
      expect((await post(url, question(1, 801))).status).toBe(200);
      await until(() => fake.sent.length === 1, 20_000, "the first answer");

      await sqld.kill();
      const down = await post(url, question(2, 802));
      expect(down.status).toBe(503);
      expect(down.headers.get("retry-after")).toBe("5");

      await sqld.start();
      expect(await redeliver(url, question(2, 802), 20_000)).toBe(200);
      expect(await redeliver(url, question(2, 802), 1_000)).toBe(200); // a second redelivery: a duplicate
      await until(() => fake.sent.length >= 2, 30_000, "the answer after the outage");
      await new Promise((r) => setTimeout(r, 1_000));
      expect(fake.sent.map((s) => [s.chatId, s.text])).toEqual([[801, "Use the link."], [802, "Use the link."]]);
      const store = await openStore({ url: sqld.url });
      try {
        const rs = await store.client.execute("SELECT count(*) AS n FROM bus_messages WHERE topic = 'inbound'");
        expect(Number(rs.rows[0]!["n"])).toBe(2);
      } finally {
        store.close();
      }
    } finally {
      for (const r of running.reverse()) await r.stop();
      await fake.close();
      await sqld.stop();
    }
  }, 90_000);
});
