// A channel agent added (or renamed) in the config and started while the orchestrator still runs on the config it
// read at its own start: its chats are not answered as the built-in "default" role (a wrong answer, here "Sorry, I
// don't have an answer to that." instead of the sales FAQ's), but wait for the orchestrator's restart; a message of
// an agent since renamed is dead-lettered naming it, not answered into an outbound topic nobody sends.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { until } from "../channels/harness.ts";

const secrets = { TG_TOKEN: "7111222333:AAH-fake-token-twice-role", TG_SECRET: "twice_secret", TG2_TOKEN: "7222333444:AAH-other-bot" };
const ANSWER = "The Pro plan costs 49 USD a month.";
const DEFAULT_NO_ANSWER = "Sorry, I don't have an answer to that.";

let dir: string;
let cleanup: () => Promise<void>;
let tg2: FakeTelegram;
let tg1: FakeTelegram;
const running: RunningAgent[] = [];
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-twice-role-"));
  tg2 = await startFakeTelegram({ token: secrets.TG2_TOKEN });
  tg1 = await startFakeTelegram({ token: secrets.TG_TOKEN });
});
afterAll(async () => {
  for (const r of running.reverse()) await r.stop().catch(() => {});
  await tg2.close();
  await tg1.close();
  await cleanup();
});

describe("a channel agent the running orchestrator's config does not have", () => {
  it(
    "its chats are not answered as the built-in default role; the message waits for (or is dead-lettered naming) the agent",
    async () => {
      const db = `file:${join(dir, "role.db")}`;
      const faq = join(dir, "sales-faq.json");
      await writeFile(faq, JSON.stringify({ entries: [{ id: "pro", questions: ["How much is the Pro plan?"], answer: ANSWER }] }));
      const [orchPort, tgPort, tg2Port] = await freePorts(3);
      const orchestrator = { name: "orchestrator", kind: "orchestrator", port: orchPort };
      const tg = {
        name: "tg",
        kind: "telegram",
        port: tgPort,
        telegram: { mode: "polling", tokenEnv: "TG_TOKEN", apiRoot: "http://127.0.0.1:9" },
      };
      // The config the orchestrator read when it started.
      const before = loadConfig(JSON.stringify({ store: { url: db }, agents: [orchestrator, tg] }), secrets);
      // The config now: a second bot for sales, with its own role and FAQ; only the new agent was started.
      const now = loadConfig(
        JSON.stringify({
          store: { url: db },
          roles: { sales: { kind: "sales", systemPrompt: "You sell.", faq, greeting: "Hi!" } },
          agents: [
            orchestrator,
            tg,
            {
              name: "tg-sales",
              kind: "telegram",
              role: "sales",
              port: tg2Port,
              telegram: { tokenEnv: "TG2_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg2.apiRoot },
            },
          ],
        }),
        secrets,
      );
      running.push(await runTestAgent({ config: now, name: "tg-sales", secrets }));
      let orch = await runTestAgent({ config: before, name: "orchestrator", secrets });
      const res = await fetch(`http://127.0.0.1:${tg2Port}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secrets.TG_SECRET },
        body: JSON.stringify(makeUpdate(telegramFixture("text"), { updateId: 1, chatId: 601, text: "How much is the Pro plan?" })),
      });
      expect(res.status).toBe(200);
      // Long enough for the old orchestrator's turn (burst quiet time, then the answer) and the send.
      await new Promise((r) => setTimeout(r, 6_000));
      const early = tg2.sent.map((s) => s.text);
      // The operator restarts the orchestrator with the config now.
      await orch.stop();
      orch = await runTestAgent({ config: now, name: "orchestrator", secrets });
      running.push(orch);
      const dead = async () =>
        (await orch.store.client.execute("SELECT last_error FROM bus_dead_letters WHERE topic = 'inbound'")).rows.map((r) =>
          String(r["last_error"])
        );
      await until(async () => tg2.sent.length > early.length || (await dead()).length > 0, 20_000, "an answer or a dead letter")
        .catch(() => {});
      expect(early, "answered by the old orchestrator as the built-in default role").not.toContain(DEFAULT_NO_ANSWER);
      const letters = await dead();
      if (letters.length > 0) expect(letters.join("\n")).toMatch(/tg-sales/);
      else expect(tg2.sent.map((s) => s.text)).toEqual([ANSWER]);
    },
    60_000,
  );

  it(
    "a message of an agent since renamed in the config is not left unanswered in an outbound topic nobody sends",
    async () => {
      const db = `file:${join(dir, "rename.db")}`;
      const faq = join(dir, "support-faq.json");
      await writeFile(faq, JSON.stringify({ entries: [{ id: "pro", questions: ["How much is the Pro plan?"], answer: ANSWER }] }));
      const [orchPort, tgPort] = await freePorts(2);
      const roles = { support: { kind: "support", systemPrompt: "Help.", faq, greeting: "Hi!" } };
      const bot = (name: string) => ({
        name,
        kind: "telegram",
        role: "support",
        port: tgPort,
        telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg1.apiRoot },
      });
      const orchestrator = { name: "orchestrator", kind: "orchestrator", port: orchPort };
      const before = loadConfig(JSON.stringify({ store: { url: db }, roles, agents: [orchestrator, bot("telegram")] }), secrets);
      // A question taken while the orchestrator is behind (stopped, or its turns retrying through an outage).
      const old = await runTestAgent({ config: before, name: "telegram", secrets });
      const res = await fetch(`http://127.0.0.1:${tgPort}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secrets.TG_SECRET },
        body: JSON.stringify(makeUpdate(telegramFixture("text"), { updateId: 7, chatId: 701, text: "How much is the Pro plan?" })),
      });
      expect(res.status).toBe(200);
      await old.stop();
      // The operator renames the agent (same bot, same port) and restarts everything, as the README says.
      const now = loadConfig(JSON.stringify({ store: { url: db }, roles, agents: [orchestrator, bot("tg-support")] }), secrets);
      running.push(await runTestAgent({ config: now, name: "tg-support", secrets }));
      const orch = await runTestAgent({ config: now, name: "orchestrator", secrets });
      running.push(orch);
      const dead = async () =>
        (await orch.store.client.execute("SELECT last_error FROM bus_dead_letters")).rows.map((r) => String(r["last_error"]));
      await until(async () => tg1.sent.length > 0 || (await dead()).length > 0, 15_000, "an answer or a dead letter")
        .catch(() => {});
      const waiting = await orch.store.client.execute(
        "SELECT topic, grp, state FROM bus_deliveries WHERE topic LIKE 'outbound.%'",
      );
      const letters = await dead();
      // Either the user is answered (by the bot, now called tg-support), or the operator is told, naming the agent.
      if (letters.length > 0) expect(letters.join("\n")).toMatch(/telegram/);
      else {
        expect(tg1.sent.map((s) => s.text), `deliveries still waiting: ${JSON.stringify(waiting.rows)}`).toEqual([ANSWER]);
      }
    },
    60_000,
  );
});
