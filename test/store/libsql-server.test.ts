// The scale-out path: the same store and bus code against a real libSQL server (sqld over HTTP) instead of a file.
// Nothing per-connection can be set there and no file can be watched, so the bus polls; the SQL must be what the
// server accepts (a statement with more arguments than parameters is refused there, ignored by a local file).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { runBusContract } from "../bus/contract.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { until } from "../channels/harness.ts";
import { type FakeGraph, signature, startFakeGraph, textPayload } from "../fakes/graph.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { runTestAgent } from "../support/agent.ts";
import { cli } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { runSqldTests, type Sqld, startSqld } from "../support/sqld.ts";
import { tempDir } from "../support/tmp.ts";

describe.runIf(runSqldTests)("libSQL server", () => {
  runBusContract("libsql server", async ({ now, random }) => {
    const sqld = await startSqld();
    const store = await openStore({ url: sqld.url });
    await migrate(store.client);
    const bus = createSqliteBus(store, { now, random, wake: { pollMinMs: 2, pollMaxMs: 10 } });
    return { bus, cleanup: async () => (store.close(), await sqld.stop()) };
  });

  describe("store", () => {
    let sqld: Sqld;
    beforeAll(async () => void (sqld = await startSqld()));
    afterAll(() => sqld?.stop());

    it("migrates a new database, and a second migration changes nothing", async () => {
      const store = await openStore({ url: sqld.url });
      try {
        await migrate(store.client);
        const tables = async () =>
          (await store.client.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).rows
            .map((r) => String(r["name"]));
        const first = await tables();
        expect(first).toContain("bus_messages");
        expect(first).toContain("bus_send_ledger");
        await migrate(store.client);
        expect(await tables()).toEqual(first);
        expect(await store.checkpoint()).toBe(true); // the server manages its own WAL
      } finally {
        store.close();
      }
    });
  });

  describe("the agents on it: webhook → orchestrator → one reply", () => {
    const secrets = {
      TG_TOKEN: "7111222333:AAH-fake-token-scale-out",
      TG_SECRET: "scale_out_secret",
      WA_APP_SECRET: "scale-out-app-secret",
      WA_TOKEN: "EAAJB-scale-out-token",
      WA_VERIFY: "scale-out-verify",
    };
    const PNID = "106540352242922";
    const ANSWER = 'Open the login page, choose "Forgot password" and follow the link we email you.';
    let sqld: Sqld;
    let tmp: Awaited<ReturnType<typeof tempDir>>;
    let tg: FakeTelegram;
    let graph: FakeGraph;
    const running: RunningAgent[] = [];
    const ports: Record<string, number> = {};

    beforeAll(async () => {
      sqld = await startSqld();
      tmp = await tempDir("aideazz-scale-out-");
      tg = await startFakeTelegram({ token: secrets.TG_TOKEN });
      graph = await startFakeGraph({ accessToken: secrets.WA_TOKEN });
      const faq = join(tmp.dir, "faq.json");
      await writeFile(faq, JSON.stringify({ entries: [{ questions: ["How do I reset my password?"], answer: ANSWER }] }));
      for (const n of ["orchestrator", "tg", "wa"]) ports[n] = await freePort();
      const config = loadConfig(
        JSON.stringify({
          store: { url: sqld.url },
          roles: { support: { kind: "support", systemPrompt: "Be nice.", faq } },
          agents: [
            { name: "orchestrator", kind: "orchestrator", port: ports["orchestrator"] },
            {
              name: "tg",
              kind: "telegram",
              role: "support",
              port: ports["tg"],
              telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg.apiRoot },
            },
            {
              name: "wa",
              kind: "whatsapp",
              role: "support",
              port: ports["wa"],
              whatsapp: {
                phoneNumberId: PNID,
                appSecretEnv: "WA_APP_SECRET",
                accessTokenEnv: "WA_TOKEN",
                verifyTokenEnv: "WA_VERIFY",
                graphBaseUrl: graph.baseUrl,
              },
            },
          ],
        }),
        secrets,
      );
      // All three at once on a new database: each migrates it as it starts.
      running.push(...await Promise.all(["tg", "wa", "orchestrator"].map((name) => runTestAgent({ config, name, secrets }))));
    }, 60_000);

    afterAll(async () => {
      for (const r of running.reverse()) await r.stop();
      await tg?.close();
      await graph?.close();
      await tmp?.cleanup();
      await sqld?.stop();
    });

    it("telegram: the same update 3× and a WhatsApp message 2× → one FAQ answer each; the store says so", async () => {
      const update = makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 701, text: "How do I reset my password?" });
      const postTelegram = () =>
        fetch(`http://127.0.0.1:${ports["tg"]}/telegram/webhook`, {
          method: "POST",
          headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secrets.TG_SECRET },
          body: JSON.stringify(update),
        });
      const body = JSON.stringify(
        textPayload({ id: "wamid.SCALE1", from: "15550009999", body: "How do I reset my password?", phoneNumberId: PNID }),
      );
      const postWhatsApp = () =>
        fetch(`http://127.0.0.1:${ports["wa"]}/whatsapp/webhook`, {
          method: "POST",
          headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, secrets.WA_APP_SECRET) },
          body,
        });
      for (let i = 0; i < 3; i++) expect((await postTelegram()).status).toBe(200);
      for (let i = 0; i < 2; i++) expect((await postWhatsApp()).status).toBe(200);
      await until(() => tg.sent.length >= 1 && graph.sent.length >= 1, 20_000, "both answers");
      await new Promise((r) => setTimeout(r, 1_000));
      expect(tg.sent.map((s) => [s.chatId, s.text])).toEqual([[701, ANSWER]]);
      expect(graph.sent.map((s) => [s.to, s.text])).toEqual([["15550009999", ANSWER]]);
      // No handler failed on the way (a statement the server refuses would fail a turn; its retry could still answer).
      for (const r of running) expect(r.metrics.render()).not.toMatch(/aideazz_bus_handled_total\{[^}]*outcome="(?:retry|dead)"/);
      const store = await openStore({ url: sqld.url });
      try {
        const count = async (sql: string) => Number((await store.client.execute(sql)).rows[0]!["n"]);
        expect(await count("SELECT count(*) AS n FROM bus_send_ledger WHERE state = 'sent'")).toBe(2);
        expect(await count("SELECT count(*) AS n FROM chat_inbox WHERE state = 'answered'")).toBe(2);
        expect(await count("SELECT count(*) AS n FROM bus_dead_letters")).toBe(0);
      } finally {
        store.close();
      }
    }, 60_000);

    it("the operator's commands read the server: migrate, bus stats, trace; backup says to use the server's tools", async () => {
      const db = ["--db", sqld.url];
      expect((await cli(["migrate", ...db])).code).toBe(0);
      for (const r of running) await r.flush(); // the trace events buffered since the last flush interval
      const stats = await cli(["bus", "stats", ...db]);
      expect(stats.code).toBe(0);
      expect(stats.stdout).toMatch(/^inbound\s+orchestrator\s+0\s+0\s+0\s+-\s+0$/m);
      expect(stats.stdout).toMatch(/^outbound\.tg\s+egress\s+0\s+0\s+0\s+-\s+0$/m);
      const trace = await cli(["trace", "chat:tg:701", ...db]);
      expect(trace.code).toBe(0);
      expect(trace.stdout).toContain("last stage: sent");
      expect(trace.stdout).toContain("tier=faq");
      for (const stage of ["received", "stored", "claimed", "route", "reply_queued", "sent"]) {
        expect(trace.stdout).toMatch(new RegExp(`\\s${stage}\\s`));
      }
      const backup = await cli(["backup", join(tmp.dir, "copy.db"), ...db]);
      expect(backup.code).not.toBe(0);
      expect(backup.stderr).toContain("is a libSQL server; back it up with the server's own tools");
    });
  });
});
