/** For the web chat page's browser tests: the agent on a real store and port, a stand-in orchestrator, Chromium. */
import { join } from "node:path";
import { chromium } from "playwright-core";
import { chatKey, INBOUND_TOPIC, inboundMessageSchema, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import type { Bus } from "../../src/bus/types.ts";
import { loadConfig } from "../../src/config.ts";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { freePort } from "../support/ports.ts";
import { runTestAgent } from "../support/agent.ts";

export const CHROMIUM = "/usr/bin/chromium";

export interface Webchat {
  url: string;
  port: number;
  running: RunningAgent;
  bus: Bus;
  rows(sql: string, ...args: (string | number)[]): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

/**
 * The web chat agent (production runtime) on `port` (default: a free one; a restart passes the same) and the store
 * file `db` in `dir`.
 */
export async function startWebchat(
  dir: string,
  opts: { port?: number; db?: string; webchat?: Record<string, unknown>; greeting?: string } = {},
): Promise<Webchat> {
  const port = opts.port ?? await freePort();
  const dbUrl = `file:${join(dir, opts.db ?? "webchat.db")}`;
  const config = loadConfig(
    JSON.stringify({
      store: { url: dbUrl },
      roles: { support: { kind: "support", systemPrompt: "Be nice.", greeting: opts.greeting ?? "Hello!" } },
      agents: [{ name: "webchat", kind: "webchat", role: "support", port, webchat: { pollMs: 250, ...opts.webchat } }],
    }),
    {},
  );
  const running = await runTestAgent({ config, name: "webchat", dbUrl, secrets: {} });
  const bus = createSqliteBus(running.store);
  const client = running.store.client;
  return {
    url: `http://127.0.0.1:${running.port}`,
    port: running.port,
    running,
    bus,
    rows: async (sql, ...args) => (await client.execute({ sql, args })).rows.map((r) => ({ ...r })),
    async stop() {
      await bus.close();
      await running.stop();
    },
  };
}

/**
 * Stands in for the orchestrator: answers each text once with `answer(text)`, in bus order (one chat at a time), and
 * pushes each text it answers to `answered`.
 */
export function answerEach(ch: Pick<Webchat, "bus" | "rows">, answer: (text: string) => string, answered: string[] = []) {
  return ch.bus.consume({
    topic: INBOUND_TOPIC,
    group: "orchestrator",
    handler: async (d) => {
      const msg = inboundMessageSchema.parse(d.payload);
      if (msg.kind !== "text") return;
      answered.push(msg.text);
      const reply: OutboundReply = {
        agent: msg.agent,
        chatId: msg.chatId,
        text: answer(msg.text),
        inReplyTo: [d.id],
        replyKey: `answer:${d.id}`,
        kind: "answer",
      };
      await ch.bus.publish([{
        topic: outboundTopic(msg.agent),
        key: chatKey(msg.agent, msg.chatId),
        payload: reply as never,
        idempotencyKey: reply.replyKey,
      }]);
      await ch.rows("UPDATE chat_inbox SET state = 'answered', reply_key = ? WHERE bus_id = ?", reply.replyKey, d.id);
    },
  });
}

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
