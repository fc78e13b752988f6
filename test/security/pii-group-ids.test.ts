/**
 * The orchestrator's warning after Telegram upgraded the operator's group to a supergroup ("set operator.chatId to
 * the supergroup's id", fields `group` and `supergroup`) must show both ids: a supergroup id is -100 and 10 digits,
 * which the phone rule (9–15 digits) would turn into "-[phone]". They are not personal data: the config names the
 * group's id, and it is kept unhashed on purpose. A negative number inside running text is still scrubbed.
 * Real telegram agent (webhook mode) against the fake Bot API, real orchestrator, one libSQL file.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/runtime.ts";
import { chatKey, INBOUND_TOPIC, type InboundMessage, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type Bus, type Consumer, createSqliteBus, type Json } from "../../src/bus/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger, scrubPii } from "../../src/log.ts";
import { openStore, type Store } from "../../src/store/mod.ts";
import { newTraceId } from "../../src/trace/mod.ts";
import { errors, type FakeTelegram, startFakeTelegram } from "../fakes/telegram.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const secrets = { TG_TOKEN: "7111222333:AAH-fake-token-group-ids", TG_SECRET: "group_ids_secret" };
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

describe("operator group upgraded to a supergroup: the orchestrator's warning", () => {
  it("scrubPii keeps a whole value that is a group id, not a negative number inside text", () => {
    expect(scrubPii("-1002345678901")).toBe("-1002345678901");
    expect(scrubPii("-4012345678")).toBe("-4012345678");
    expect(scrubPii("call me -600123456")).toBe("call me -[phone]");
  });

  it("names the supergroup's id the operator is told to set (and the group's), not [phone]", async () => {
    const { dir, cleanup } = await tempDir("aideazz-pii-group-ids-");
    const tg: FakeTelegram = await startFakeTelegram({ token: secrets.TG_TOKEN });
    tg.script("sendMessage", (call) => (String(call.body["chat_id"]) === String(GROUP) ? errors.migrated(SUPERGROUP) : undefined));
    const [orchPort, tgPort, webPort] = await freePorts(3);
    const dbUrl = `file:${join(dir, "sg.db")}`;
    const config = loadConfig(
      JSON.stringify({
        store: { url: dbUrl },
        roles: {
          support: { kind: "support", systemPrompt: "You are Example Co's support bot.", operator: { agent: "tg", chatId: String(GROUP) } },
        },
        agents: [
          { name: "orchestrator", kind: "orchestrator", port: orchPort },
          { name: "tg", kind: "telegram", port: tgPort, telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg.apiRoot } },
          { name: "web", kind: "webchat", role: "support", port: webPort },
        ],
      }),
      secrets,
    );
    const lines: string[] = [];
    const log = createLogger({ agent: "orchestrator", secrets: Object.values(secrets), write: (l) => lines.push(l) });
    const running: RunningAgent[] = [];
    running.push(await runTestAgent({ config, name: "tg", secrets }));
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
    await until(() => tg.sent.some((s) => String(s.chatId) === String(SUPERGROUP)), "the notice in the supergroup");
    // The operator answers from the supergroup: the orchestrator finds the move and warns.
    const res = await fetch(`http://127.0.0.1:${tgPort}/telegram/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secrets.TG_SECRET },
      body: JSON.stringify({
        update_id: 9001,
        message: {
          message_id: 77,
          date: Math.floor(Date.now() / 1000),
          chat: { id: SUPERGROUP, type: "supergroup", title: "Example Co support" },
          from: { id: 4242, is_bot: false, first_name: "Ana" },
          text: "/reply 1 Hi, this is Ana from Example Co.",
        },
      }),
    });
    expect(res.status).toBe(200);
    await until(() => lines.some((l) => l.includes("now a supergroup")), "the orchestrator's warning");
    const warning = JSON.parse(lines.find((l) => l.includes("now a supergroup"))!);
    expect({ group: warning.group, supergroup: warning.supergroup }).toEqual({
      group: String(GROUP),
      supergroup: String(SUPERGROUP),
    });
  }, 60_000);
});
