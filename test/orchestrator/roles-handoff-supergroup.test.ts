/**
 * The operator's Telegram group is upgraded to a supergroup (Telegram does this by itself, e.g. when an admin
 * turns on topics or visible history). The channel already follows it for sends (400 with migrate_to_chat_id →
 * the notice goes to the supergroup, README "Channels"); the operator then answers from the supergroup, whose
 * messages carry the new chat id. Real telegram agent (webhook mode) against the fake Bot API, real orchestrator,
 * one libSQL file; the customer is a web chat whose inbound is published on the bus as its agent would.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/runtime.ts";
import { chatKey, INBOUND_TOPIC, type InboundMessage, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type Bus, type Consumer, createSqliteBus, type Json } from "../../src/bus/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { openStore, type Store } from "../../src/store/mod.ts";
import { newTraceId } from "../../src/trace/mod.ts";
import { errors, type FakeTelegram, startFakeTelegram } from "../fakes/telegram.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const secrets = { TG_TOKEN: "7111222333:AAH-fake-token-roles-handoff", TG_SECRET: "roles_secret" };
// Ids as Telegram gives them today: a basic group's, and the supergroup's (-100 and 10 digits).
const GROUP = -4012345678;
const SUPERGROUP = -1002345678901;

let cleanupAll: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanupAll?.();
  cleanupAll = undefined;
});

const until = async (check: () => boolean, what: string, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe("operator group upgraded to a supergroup", () => {
  it("the operator's /reply from the supergroup (where the notices now arrive) reaches the customer", async () => {
    const { dir, cleanup } = await tempDir("aideazz-roles-supergroup-");
    const tg: FakeTelegram = await startFakeTelegram({ token: secrets.TG_TOKEN });
    // The basic group is gone: every send to it answers with the supergroup's id.
    tg.script("sendMessage", (call) => (String(call.body["chat_id"]) === String(GROUP) ? errors.migrated(SUPERGROUP) : undefined));
    const [orchPort, tgPort, webPort] = await freePorts(3);
    const dbUrl = `file:${join(dir, "sg.db")}`;
    const config = loadConfig(
      JSON.stringify({
        store: { url: dbUrl },
        roles: {
          support: {
            kind: "support",
            systemPrompt: "You are Example Co's support bot.",
            operator: { agent: "tg", chatId: String(GROUP) },
          },
        },
        agents: [
          { name: "orchestrator", kind: "orchestrator", port: orchPort },
          {
            name: "tg",
            kind: "telegram",
            port: tgPort,
            telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg.apiRoot },
          },
          { name: "web", kind: "webchat", role: "support", port: webPort },
        ],
      }),
      secrets,
    );
    const running: RunningAgent[] = [];
    running.push(await runTestAgent({ config, name: "tg", secrets }));
    const lines: string[] = [];
    const log = createLogger({ agent: "orchestrator", secrets: Object.values(secrets), write: (l) => lines.push(l) });
    running.push(await runTestAgent({ config, name: "orchestrator", secrets, log }));
    const store: Store = await openStore({ url: dbUrl });
    const bus: Bus = createSqliteBus(store);
    const toWeb: OutboundReply[] = [];
    const consumer: Consumer = bus.consume({
      topic: outboundTopic("web"),
      group: "egress",
      handler: (d) => {
        toWeb.push(d.payload as unknown as OutboundReply);
        return Promise.resolve();
      },
    });
    cleanupAll = async () => {
      await consumer.stop(1000);
      for (const r of running.reverse()) await r.stop();
      await bus.close();
      store.close();
      await tg.close();
      await cleanup();
    };

    // The customer asks for a person.
    const human: InboundMessage = {
      channel: "webchat",
      agent: "web",
      chatId: "c1",
      userId: "web-c1",
      platformId: "p1",
      kind: "command",
      text: "/human",
      sentAt: Date.now(),
      receivedAt: Date.now(),
    };
    await bus.publish([{
      topic: INBOUND_TOPIC,
      key: chatKey("web", "c1"),
      payload: human as unknown as Json,
      idempotencyKey: "test:p1",
      traceId: newTraceId(),
    }]);
    // The handoff notice reaches the operators in the supergroup.
    await until(() => tg.sent.some((s) => String(s.chatId) === String(SUPERGROUP)), "the notice in the supergroup");
    expect(tg.sent.find((s) => String(s.chatId) === String(SUPERGROUP))!.text).toMatch(/^Handoff #1 from web:c1/);
    await until(() => toWeb.length >= 1, "the handoff text");

    // Ana answers there, as the notice says.
    const update = {
      update_id: 9001,
      message: {
        message_id: 77,
        date: Math.floor(Date.now() / 1000),
        chat: { id: SUPERGROUP, type: "supergroup", title: "Example Co support" },
        from: { id: 4242, is_bot: false, first_name: "Ana" },
        text: "/reply 1 Hi, this is Ana from Example Co.",
      },
    };
    const res = await fetch(`http://127.0.0.1:${tgPort}/telegram/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secrets.TG_SECRET },
      body: JSON.stringify(update),
    });
    expect(res.status).toBe(200);
    const before = tg.sent.length;
    await until(() => tg.sent.length > before, "an answer in the supergroup");
    await new Promise((r) => setTimeout(r, 1000));
    const inGroup = tg.sent.slice(before).map((s) => s.text);
    expect({ toCustomer: toWeb.slice(1).map((r) => r.text), inGroup }).toEqual({
      toCustomer: ["Hi, this is Ana from Example Co."],
      inGroup: ["Sent to #1 web:c1."],
    });
    // The warning asks the operator to set the supergroup's id: both ids readable, not scrubbed as phone numbers.
    const warning = JSON.parse(lines.find((l) => l.includes("now a supergroup")) ?? "{}");
    expect({ group: warning.group, supergroup: warning.supergroup }).toEqual({
      group: String(GROUP),
      supergroup: String(SUPERGROUP),
    });
  });
});
