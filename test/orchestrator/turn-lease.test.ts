// A reply the turn publishes before its last write (the fallback notice, a partial, "working on it") commits only
// while the turn's lease holds, checked in the publish's own transaction: a lease lost between a separate check and
// the publish (another process took the message over) must not let the old attempt's reply out.
import { afterEach, expect, it } from "vitest";
import { chatKey, INBOUND_TOPIC, type InboundMessage, outboundTopic } from "../../src/bus/envelopes.ts";
import { type Bus, createSqliteBus, type Json, LeaseLostError } from "../../src/bus/mod.ts";
import { createConversations } from "../../src/agents/orchestrator/conversation.ts";
import { createInbox } from "../../src/agents/orchestrator/experience/inbox.ts";
import { createUserLimits } from "../../src/agents/orchestrator/limits.ts";
import { createTurnHandler } from "../../src/agents/orchestrator/turn.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import { createModelRouter, createRouterEntries } from "../../src/router/chain.ts";
import { resolveRouterSettings } from "../../src/router/config.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { createTracer, newTraceId } from "../../src/trace/mod.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

it("a fallback notice is not published once the turn's lease was taken over, however late the loss", async () => {
  const { dir, cleanup } = await tempDir("aideazz-turn-lease-");
  closers.push(cleanup);
  const refused = await freePort(); // nothing listens: every provider call fails at once
  const config = loadConfig(JSON.stringify({
    store: { url: `file:${dir}/t.db` },
    roles: { support: { kind: "support", systemPrompt: "You are Example Co's support bot." } },
    agents: [
      { name: "web", kind: "webchat", role: "support", port: refused + 1, experience: { coalesce: { enabled: false } } },
      { name: "orchestrator", kind: "orchestrator", port: refused + 2 },
    ],
    router: {
      providers: { groq: { kind: "groq", baseUrl: `http://127.0.0.1:${refused}/openai/v1`, model: "m", apiKeyEnv: "K", timeoutMs: 500 } },
      chain: ["groq"],
      retry: { maxAttempts: 1 },
    },
    cache: { enabled: false },
  }), { K: "k" });
  const store: Store = await openStore({ url: config.store.url });
  closers.push(() => store.close());
  await migrate(store.client, Date.now);
  const realBus = createSqliteBus(store);
  closers.push(() => realBus.close());
  await realBus.subscribe(INBOUND_TOPIC, "orchestrator");
  await realBus.subscribe(outboundTopic("web"), "egress");

  // The loss comes right before the publish's own write: after any check the turn could make first.
  let takenOver = false;
  const bus: Bus = {
    ...realBus,
    async publish(messages, also) {
      if (messages.some((m) => m.topic === outboundTopic("web"))) {
        await store.client.execute("UPDATE bus_deliveries SET fence = fence + 1 WHERE state = 1");
        takenOver = true;
      }
      return await realBus.publish(messages, also);
    },
  };
  const now = Date.now;
  const log = createLogger({ agent: "orchestrator", secrets: [], write: () => {} });
  const settings = resolveRouterSettings(config.router);
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const base = { client: store.client, fetch, env: { K: "k" }, now, random: Math.random, sleep, log };
  const router = await createModelRouter(settings, { ...base, entries: createRouterEntries(settings, base) });
  const handler = createTurnHandler({
    bus, client: store.client, config, conversations: createConversations(store.client), cache: undefined,
    faqs: new Map(), router, limits: createUserLimits({ client: store.client, now, perMinute: 100, dailyTokens: 0 }),
    tracer: createTracer({ agent: "orchestrator", now }), metrics: createMetrics(), log, now, random: Math.random,
    agent: "orchestrator", inbox: createInbox(store.client), sleep: () => Promise.resolve(),
  });

  const message: InboundMessage = {
    channel: "webchat", agent: "web", chatId: "c1", userId: "c1", platformId: "p1", kind: "text",
    text: "Why was my card declined yesterday?", sentAt: now(), receivedAt: now(),
  };
  await realBus.publish([{
    topic: INBOUND_TOPIC, key: chatKey("web", "c1"), payload: message as unknown as Json, idempotencyKey: "webchat:p1",
    traceId: newTraceId(),
  }]);
  const errors: unknown[] = [];
  const consumer = bus.consume({
    topic: INBOUND_TOPIC,
    group: "orchestrator",
    handler: (d) => handler(d).catch((err) => {
      errors.push(err);
      throw err;
    }),
    maxAttempts: 1,
  });
  closers.push(() => consumer.stop(1000));
  const end = Date.now() + 10_000;
  while (errors.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));

  expect(takenOver).toBe(true);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toBeInstanceOf(LeaseLostError);
  const published = await store.client.execute({ sql: "SELECT count(*) AS n FROM bus_messages WHERE topic = ?", args: [outboundTopic("web")] });
  expect(Number(published.rows[0]!["n"])).toBe(0);
});
