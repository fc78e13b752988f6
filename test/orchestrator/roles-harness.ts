/**
 * The real orchestrator agent in this process with configurable roles (support, leads, sales), several test-side
 * channels (web chats and WhatsApp numbers for users, a Telegram agent for the operator) and a fake Groq without a
 * tight request limit. `ask()` publishes an inbound message the way the channel agent does (commands parsed by the
 * channels' own parser); `replies` collects what the orchestrator published for every channel, in order.
 * `restart()` starts the orchestrator again on the same database with another config (an operator's config change).
 */
import { join } from "node:path";
import { parseCommand } from "../../src/agents/channel/mod.ts";
import { type RunningAgent } from "../../src/agents/runtime.ts";
import {
  chatKey,
  INBOUND_TOPIC,
  type InboundMessage,
  type OutboundReply,
  outboundTopic,
} from "../../src/bus/envelopes.ts";
import { type Bus, type Consumer, createSqliteBus, type Json } from "../../src/bus/mod.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { openStore, type Row, type Store } from "../../src/store/mod.ts";
import { newTraceId } from "../../src/trace/mod.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { runTestAgent } from "../support/agent.ts";

const GROQ_KEY = "gsk_test_roles_key_123456";
export const OPERATOR = { agent: "tg-ops", chatId: "777" };

export interface RolesHarness {
  groq: FakeGroq;
  readonly agent: RunningAgent;
  store: Store;
  dir: string;
  dbUrl: string;
  replies: OutboundReply[];
  /** Publishes a user's (or, on `tg-ops`, the operator's) message; returns its bus id. */
  ask(agent: string, chatId: string, text: string): Promise<number>;
  /** Waits until `n` replies arrived in total. */
  waitForReplies(n: number, timeoutMs?: number): Promise<OutboundReply[]>;
  /** Waits until `check` holds (polling), e.g. a lead row after the extraction that follows a reply. */
  waitFor(check: () => Promise<boolean> | boolean, timeoutMs?: number): Promise<void>;
  rows(sql: string, args?: (string | number)[]): Promise<Row[]>;
  modelCalls(): number;
  /** The messages of the `i`th model request. */
  request(i: number): { role: string; content: string }[];
  /** Stops the orchestrator and starts it again on the same database with `opts`. */
  restart(opts: RolesHarnessOptions): Promise<void>;
  close(): Promise<void>;
}

export interface RolesHarnessOptions {
  roles: Record<string, Record<string, unknown>>;
  /** User-facing web chat agents: name → role (undefined: an agent configured without one). */
  channels: Record<string, string | undefined>;
  /** User-facing WhatsApp agents (never run: `ask` publishes their inbound): name → role. */
  whatsapp?: Record<string, string | undefined>;
  cache?: Record<string, unknown>;
  conversation?: Record<string, unknown>;
  /** No model provider at all (FAQ and cache only). */
  noModel?: boolean;
  /** Router settings merged over the default (fake Groq alone, chain ["groq"]). */
  router?: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startRolesHarness(first: RolesHarnessOptions): Promise<RolesHarness> {
  const { dir, cleanup } = await tempDir("aideazz-roles-");
  const groq = await startFakeGroq({
    apiKey: GROQ_KEY,
    requestsPerMinute: 100_000,
    tokensPerMinute: 10_000_000,
  });
  const dbUrl = `file:${join(dir, "roles.db")}`;
  const env = { GROQ_KEY, TG_TOKEN: "123:fake", WA_SECRET: "wa-secret", WA_TOKEN: "EAAB-wa-token", WA_VERIFY: "verify" };
  const whatsappAgents = new Set<string>();
  const configOf = async (opts: RolesHarnessOptions): Promise<Config> => {
    const port = await freePort();
    const channels = Object.entries(opts.channels);
    const whatsapp = Object.entries(opts.whatsapp ?? {});
    for (const [name] of whatsapp) whatsappAgents.add(name);
    return loadConfig(
      JSON.stringify({
        store: { url: dbUrl },
        roles: opts.roles,
        agents: [
          ...channels.map(([name, role], i) => ({ name, kind: "webchat", role, port: port + 1 + i })),
          ...whatsapp.map(([name, role], i) => ({
            name,
            kind: "whatsapp",
            role,
            port: port + 1 + channels.length + i,
            whatsapp: {
              phoneNumberId: "106540352242922",
              appSecretEnv: "WA_SECRET",
              accessTokenEnv: "WA_TOKEN",
              verifyTokenEnv: "WA_VERIFY",
            },
          })),
          {
            name: OPERATOR.agent,
            kind: "telegram",
            port: port + 1 + channels.length + whatsapp.length,
            telegram: { mode: "polling", tokenEnv: "TG_TOKEN" },
          },
          { name: "orchestrator", kind: "orchestrator", port },
        ],
        router: opts.noModel ? {} : {
          providers: {
            groq: {
              kind: "groq",
              baseUrl: groq.url,
              model: "llama-3.1-8b-instant",
              apiKeyEnv: "GROQ_KEY",
              timeoutMs: 2000,
            },
          },
          chain: ["groq"],
          retry: { maxAttempts: 1 },
          ...opts.router,
        },
        conversation: { retryBaseMs: 200, maxAttempts: 3, perUserPerMinute: 1_000, ...opts.conversation },
        cache: { checkShare: 0, ...opts.cache },
        metrics: { flushIntervalMs: 60_000 },
      }),
      env,
    );
  };
  const log = createLogger({ agent: "orchestrator", secrets: [GROQ_KEY], write: () => {} });
  const run = async (opts: RolesHarnessOptions) =>
    runTestAgent({ config: await configOf(opts), name: "orchestrator", dbUrl, secrets: env, log });
  let agent = await run(first);
  const store = await openStore({ url: dbUrl });
  const bus: Bus = createSqliteBus(store);
  const replies: OutboundReply[] = [];
  const consumers = new Map<string, Consumer>();
  const consumeAll = (opts: RolesHarnessOptions) => {
    for (const name of [...Object.keys(opts.channels), ...Object.keys(opts.whatsapp ?? {}), OPERATOR.agent]) {
      if (consumers.has(name)) continue;
      consumers.set(
        name,
        bus.consume({
          topic: outboundTopic(name),
          group: "egress",
          handler: (d) => {
            replies.push(d.payload as unknown as OutboundReply);
            return Promise.resolve();
          },
        }),
      );
    }
  };
  consumeAll(first);
  let seq = 0;
  const waitFor = async (check: () => Promise<boolean> | boolean, timeoutMs = 10_000) => {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > end) throw new Error("condition not met in time");
      await sleep(20);
    }
  };
  return {
    groq,
    get agent() {
      return agent;
    },
    store,
    dir,
    dbUrl,
    replies,
    async ask(agentName, chatId, text) {
      const id = `m${++seq}-${Math.random()}`;
      const command = parseCommand(text);
      const payload: InboundMessage = {
        channel: agentName === OPERATOR.agent ? "telegram" : whatsappAgents.has(agentName) ? "whatsapp" : "webchat",
        agent: agentName,
        chatId,
        userId: `${agentName}-${chatId}`,
        platformId: id,
        kind: command ? "command" : "text",
        text: command?.text ?? text,
        sentAt: Date.now(),
        receivedAt: Date.now(),
      };
      const [r] = await bus.publish([{
        topic: INBOUND_TOPIC,
        key: chatKey(agentName, chatId),
        payload: payload as unknown as Json,
        idempotencyKey: `test:${id}`,
        traceId: newTraceId(),
      }]);
      return r!.id;
    },
    async waitForReplies(n, timeoutMs = 10_000) {
      await waitFor(() => replies.length >= n, timeoutMs).catch(() => {
        throw new Error(`expected ${n} replies, got ${replies.length}: ${JSON.stringify(replies, null, 1)}`);
      });
      return replies;
    },
    waitFor,
    async rows(sql, args = []) {
      return (await store.client.execute({ sql, args })).rows;
    },
    modelCalls: () => groq.requests.filter((r) => r.path.endsWith("/chat/completions")).length,
    request(i) {
      const calls = groq.requests.filter((r) => r.path.endsWith("/chat/completions"));
      return (calls[i]?.json as { messages: { role: string; content: string }[] } | undefined)?.messages ??
        [];
    },
    async restart(opts) {
      await agent.stop();
      agent = await run(opts);
      consumeAll(opts);
    },
    async close() {
      for (const c of consumers.values()) await c.stop(1000);
      await bus.close();
      store.close();
      await agent.stop();
      await groq.close();
      await cleanup();
    },
  };
}
