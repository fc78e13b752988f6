/**
 * The real orchestrator agent in this process (runAgent, its HTTP server, its bus consumer) on a temporary
 * store, a fake Groq as its only provider, and a test-side channel: `ask()` publishes an inbound message the
 * way a channel agent does, `replies` collects what the orchestrator published for the channel to send.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chatKey, INBOUND_TOPIC, type InboundMessage, outboundTopic, type OutboundReply } from "../../src/bus/envelopes.ts";
import { type Bus, type Consumer, createSqliteBus, type Json } from "../../src/bus/mod.ts";
import { type RunningAgent } from "../../src/agents/runtime.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { inboxInsert } from "../../src/agents/channel/inbox.ts";
import { newTraceId } from "../../src/trace/mod.ts";
import { openStore, type Store } from "../../src/store/mod.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { runTestAgent } from "../support/agent.ts";

export const GROQ_KEY = "gsk_test_orchestrator_key_123456";
export const API_KEY = "sk-aideazz-local-endpoint-key";

export interface Harness {
  groq: FakeGroq;
  agent: RunningAgent;
  store: Store;
  bus: Bus;
  port: number;
  logs: string[];
  replies: OutboundReply[];
  ask(chatId: string, text: string, opts?: { kind?: InboundMessage["kind"]; user?: string }): Promise<number>;
  /** Messages of one chat stored together, as a channel's ingress stores a burst (bus and chat inbox). */
  askBurst(chatId: string, texts: string[]): Promise<void>;
  /** Waits until `n` replies arrived in total (or throws after `timeoutMs`). */
  waitForReplies(n: number, timeoutMs?: number): Promise<OutboundReply[]>;
  modelCalls(): number;
  close(): Promise<void>;
}

export interface HarnessOptions {
  providers?: boolean;
  conversation?: Record<string, unknown>;
  cache?: Record<string, unknown>;
  /** Replaces the router section (default: the fake Groq alone), given the fake Groq's URL. */
  router?: (groqUrl: string) => Record<string, unknown>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const { dir, cleanup } = await tempDir("aideazz-orch-");
  const groq = await startFakeGroq({ apiKey: GROQ_KEY });
  const faq = join(dir, "faq.json");
  await writeFile(faq, JSON.stringify({
    entries: [
      { id: "hours", questions: ["What are your opening hours?", "when are you open"], answer: "We are open 9 to 5." },
      { id: "price", questions: ["How much does the pro plan cost?", "pro plan price"], answer: "Pro is $29/month." },
    ],
  }));
  const port = await freePort();
  const config = loadConfig(JSON.stringify({
    store: { url: `file:${join(dir, "o.db")}` },
    roles: { support: { kind: "support", systemPrompt: "You are Example Co's support bot.", faq, greeting: "Welcome to Example Co!" } },
    agents: [
      { name: "web", kind: "webchat", role: "support", port: port + 1 },
      { name: "orchestrator", kind: "orchestrator", port, apiKeyEnv: "ORCH_API_KEY" },
    ],
    router: opts.router?.(groq.url) ?? (opts.providers === false ? {} : {
      providers: { groq: { kind: "groq", baseUrl: groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 2000 } },
      chain: ["groq"],
      retry: { maxAttempts: 1 },
    }),
    conversation: { retryBaseMs: 200, maxAttempts: 3, ...opts.conversation },
    cache: { checkShare: 0, ...opts.cache },
    metrics: { flushIntervalMs: 60_000 },
  }), { GROQ_KEY, ORCH_API_KEY: API_KEY });
  const logs: string[] = [];
  const log = createLogger({ agent: "orchestrator", secrets: [GROQ_KEY, API_KEY], write: (l) => logs.push(l) });
  const agent = await runTestAgent({ config, name: "orchestrator", secrets: { GROQ_KEY, ORCH_API_KEY: API_KEY }, log });
  // The test's channel: its own connection and bus, like a separate channel agent process.
  const store = await openStore({ url: config.store.url });
  const bus = createSqliteBus(store);
  const replies: OutboundReply[] = [];
  const consumer: Consumer = bus.consume({
    topic: outboundTopic("web"),
    group: "egress",
    handler: (d) => {
      replies.push(d.payload as unknown as OutboundReply);
      return Promise.resolve();
    },
  });
  let seq = 0;
  return {
    groq, agent, store, bus, port, logs, replies,
    async ask(chatId, text, askOpts = {}) {
      const id = `m${++seq}-${Math.random()}`;
      const payload: InboundMessage = {
        channel: "webchat", agent: "web", chatId, userId: askOpts.user ?? chatId, platformId: id,
        kind: askOpts.kind ?? (text.startsWith("/") ? "command" : "text"), text, sentAt: Date.now(), receivedAt: Date.now(),
      };
      const [r] = await bus.publish([{
        topic: INBOUND_TOPIC, key: chatKey("web", chatId), payload: payload as unknown as Json, idempotencyKey: `webchat:${id}`,
        traceId: newTraceId(),
      }]);
      return r!.id;
    },
    async askBurst(chatId, texts) {
      const messages = texts.map((text): { message: InboundMessage; idempotencyKey: string; traceId: string } => {
        const id = `m${++seq}-${Math.random()}`;
        const message: InboundMessage = {
          channel: "webchat", agent: "web", chatId, userId: chatId, platformId: id, kind: "text", text,
          sentAt: Date.now(), receivedAt: Date.now(),
        };
        return { message, idempotencyKey: `webchat:${id}`, traceId: newTraceId() };
      });
      await bus.publish(
        messages.map(({ message, idempotencyKey, traceId }) => ({
          topic: INBOUND_TOPIC, key: chatKey("web", chatId), payload: message as unknown as Json, idempotencyKey, traceId,
        })),
        { after: [inboxInsert(messages)] },
      );
    },
    async waitForReplies(n, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (replies.length < n) {
        if (Date.now() > end) throw new Error(`expected ${n} replies, got ${replies.length}: ${JSON.stringify(replies)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return replies;
    },
    modelCalls: () => groq.requests.filter((r) => r.path.endsWith("/chat/completions")).length,
    async close() {
      await consumer.stop(1000);
      await bus.close();
      store.close();
      await agent.stop();
      await groq.close();
      await cleanup();
    },
  };
}
