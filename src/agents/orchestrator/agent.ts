/**
 * The orchestrator agent: consumes inbound chat messages (per-chat order), answers each turn through the FAQ,
 * the cache and the model router, publishes exactly one reply per message to the channel's outbound topic, and
 * serves an OpenAI-compatible endpoint so other programs on the VM can use the same router, cache and budgets.
 * It also runs the store's housekeeping: bus retention, and `conversation.retentionDays` over every table that
 * keeps what users wrote (conversation turns, the chat inbox, bus payloads and dead letters, web chat replies,
 * cached prompts) or names them (records.ts; leads keep the fields they collected).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { INBOUND_TOPIC, outboundTopic } from "../../bus/envelopes.ts";
import { type Consumer, createRetention, createSqliteBus } from "../../bus/mod.ts";
import { createResponseCache } from "../../router/cache.ts";
import { createModelRouter, createRouterEntries, type ModelRouter } from "../../router/chain.ts";
import { resolveRouterSettings } from "../../router/config.ts";
import type { Usage } from "../../router/providers/types.ts";
import { M } from "../../metrics/names.ts";
import { createEmbedder } from "../../router/embeddings.ts";
import { ConfigError } from "../../config.ts";
import { createFaq, type Faq, readFaqFile } from "../../router/faq.ts";
import { sleep } from "../channel/sleep.ts";
import { EGRESS_GROUP, ORCHESTRATOR_GROUP } from "../channel/spine.ts";
import { every } from "../../store/mod.ts";
import { purgeRepliesBefore } from "../webchat/replies.ts";
import { defineAgent } from "../define.ts";
import { createConversations } from "./conversation.ts";
import { createInbox } from "./experience/inbox.ts";
import { createUserLimits } from "./limits.ts";
import { abandonedReplyTopics, purgeRecordsBefore } from "./records.ts";
import { openAiRoutes } from "./openai.ts";
import { createRoleHooks } from "./roles/mod.ts";
import { sampleRouterGauges } from "./gauges.ts";
import { createTurnHandler } from "./turn.ts";

/** How long a stopping orchestrator lets turns in flight finish before releasing their leases. */
const STOP_TIMEOUT_MS = 15_000;
const DAY_MS = 86_400_000;

export const orchestrator = defineAgent({
  kind: "orchestrator",
  summary: "answers chat messages: FAQ, cache, then Groq / Claude / local Llama",
  async create(deps, agent) {
    const { store, config, log, metrics, tracer, now, redact } = deps;
    // A dead letter's error may quote a provider's answer: stored redacted, like the channels' (spine.ts).
    const bus = createSqliteBus(store, { log, metrics, now, redact });
    const faqs = new Map<string, Faq>();
    for (const [name, role] of Object.entries(config.roles)) {
      if (role.faq === undefined) continue;
      // A bad FAQ file is a config error naming its field, as `aideazz config check` reports it.
      const read = await readFaqFile(role.faq, `roles.${name}.faq`, (path) => readFile(path, "utf8"));
      if ("issues" in read) throw new ConfigError(read.issues);
      faqs.set(name, createFaq(read.faq, config.conversation.faqThreshold));
    }
    const settings = resolveRouterSettings(config.router);
    const hasProviders = Object.values(settings.chains).some((c) => c.length > 0);
    // Spend and tokens are counted where the budget settles each call: also a failed call it charged, the OpenAI
    // endpoint's and a cache check's.
    const onSettled = (provider: string, model: string, { usd, usage }: { usd: number; usage?: Usage }) => {
      if (usd > 0) metrics.inc(M.cost, { provider, model }, usd);
      if (!usage) return;
      metrics.inc(M.tokens, { provider, model, direction: "input" }, usage.inputTokens);
      metrics.inc(M.tokens, { provider, model, direction: "output" }, usage.outputTokens);
    };
    const base = { client: store.client, fetch: deps.fetch, env: deps.secrets, now, random: Math.random, sleep, log, onSettled };
    // One set of entries for both routers: a provider's bulkhead and breaker hold for all its calls from this process.
    const routerDeps = { ...base, entries: createRouterEntries(settings, base) };
    const router: ModelRouter | undefined = hasProviders ? await createModelRouter(settings, routerDeps) : undefined;
    // `local` in the OpenAI endpoint: only the llama.cpp providers, whatever the chains say.
    const localNames = Object.entries(settings.providers).filter(([, p]) => p.kind === "llama-cpp").map(([n]) => n);
    const localRouter = localNames.length === 0 ? undefined : await createModelRouter(
      { ...settings, chains: { simple: localNames, complex: localNames, "high-value": localNames } },
      routerDeps,
    );
    const embeddings = config.cache.embeddings;
    const embedApiKey = embeddings?.apiKeyEnv ? deps.secrets[embeddings.apiKeyEnv] : undefined;
    // Made even when turned off, for retention alone: the entries stored while it was on hold users' prompts.
    const responseCache = createResponseCache({
      client: store.client,
      now,
      ttlMs: config.cache.ttlMs,
      lexicalThreshold: config.cache.lexicalThreshold,
      semanticThreshold: config.cache.semanticThreshold,
      maxEntries: config.cache.maxEntries,
      log,
      ...(embeddings
        ? {
          embedder: createEmbedder({
            baseUrl: embeddings.baseUrl,
            model: embeddings.model,
            fetch: deps.fetch,
            ...(embedApiKey ? { apiKey: embedApiKey } : {}),
          }),
        }
        : {}),
    });
    const cache = config.cache.enabled ? responseCache : undefined;
    const conversations = createConversations(store.client);
    const limits = createUserLimits({
      client: store.client,
      now,
      perMinute: config.conversation.perUserPerMinute,
      dailyTokens: config.conversation.perUserDailyTokens,
    });
    // roles: leads, sales price guard, handoff, reply hygiene (throws when an operator is not a telegram agent).
    const roles = createRoleHooks({ config, bus, client: store.client, conversations, router, limits, tracer, log, now });
    const inbox = createInbox(store.client);
    const handler = createTurnHandler({
      bus, client: store.client, config, conversations, cache, faqs, router, limits, tracer, metrics, log, now,
      random: Math.random, agent: agent.name, roles, inbox, sleep,
    });
    const retentionMs = config.conversation.retentionDays * DAY_MS;
    // Replies for a channel agent renamed or removed would keep their text for ever: dead-lettered (records.ts).
    const abandoned = () => abandonedReplyTopics(store.client, config.agents, now());
    const retention = createRetention(store, { now, log, textMs: retentionMs, abandoned });
    let consumer: Consumer | undefined;
    let gauges: ReturnType<typeof setInterval> | undefined;
    // At start and then hourly: an orchestrator restarted more often than hourly must still purge. stop() ends a
    // pass still running after its current chunk (the next start does the rest) and waits for it: closing the store
    // under it would fail its next chunk.
    const housekeeping = every(3_600_000, (signal) => {
      const cutoff = now() - retentionMs;
      return Promise.all([
        conversations.purgeBefore(cutoff, signal).catch((err) => log.warn("conversation retention failed", { err })),
        inbox.purgeBefore(cutoff, signal).catch((err) => log.warn("chat inbox retention failed", { err })),
        purgeRepliesBefore(store.client, cutoff, signal).catch((err) => log.warn("web chat retention failed", { err })),
        responseCache.purgeBefore(cutoff, signal).catch((err) => log.warn("cache retention failed", { err })),
        purgeRecordsBefore(store.client, cutoff, signal).catch((err) => log.warn("records retention failed", { err })),
      ]);
    });
    const apiKey = agent.apiKeyEnv ? deps.secrets[agent.apiKeyEnv] : undefined;

    return {
      routes(app) {
        openAiRoutes(app, { router, localRouter, cache, config, apiKey, now, metrics, log });
      },
      async start() {
        // Subscribe every channel's egress group too: a reply published before its channel first ran is kept.
        await bus.subscribe(INBOUND_TOPIC, ORCHESTRATOR_GROUP);
        for (const a of config.agents) {
          if (a.kind === "telegram" || a.kind === "whatsapp" || a.kind === "webchat") {
            await bus.subscribe(outboundTopic(a.name), EGRESS_GROUP);
          }
        }
        consumer = bus.consume({
          topic: INBOUND_TOPIC,
          group: ORCHESTRATOR_GROUP,
          handler,
          // Turns in flight (different chats; one chat's turns run in order). Model calls are bounded by each
          // provider's bulkhead, so cheap turns (FAQ, cache) are not queued behind slow ones.
          concurrency: 128,
          leaseMs: 30_000,
          handlerTimeoutMs: config.bus.handlerTimeoutMs,
          maxAttempts: config.conversation.maxAttempts,
          retryBaseMs: config.conversation.retryBaseMs,
          retryMaxMs: 120_000,
          onDeadLetter: ({ id, traceId, error }) => tracer.event(traceId, "dead_letter", { group: ORCHESTRATOR_GROUP, id, error }),
        });
        retention.start();
        gauges = router && setInterval(() => {
          sampleRouterGauges(router, store.client, metrics, now()).catch((err) => log.debug("gauge sampling failed", { err }));
        }, 10_000);
        housekeeping.start(0);
      },
      async stop() {
        clearInterval(gauges);
        const purged = housekeeping.stop();
        await consumer?.stop(STOP_TIMEOUT_MS);
        await Promise.all([retention.stop(), purged]);
        await bus.close();
      },
      checks() {
        const open = router ? Object.entries(router.breakerStates()).filter(([, s]) => s === "open").map(([n]) => n) : [];
        return Promise.resolve({
          providers: {
            ok: true,
            detail: !router ? "no provider configured: FAQ and cache only" : open.length ? `breaker open: ${open.join(", ")}` : "all breakers closed",
          },
        });
      },
    };
  },
});
