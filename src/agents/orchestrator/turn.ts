/**
 * One turn of a conversation: the orchestrator's handler for an inbound message. Cheapest answer first —
 * commands, abuse limits, FAQ, cache (context-free turns only), then the model router — and exactly one reply
 * published per inbound message (the reply's idempotency key is derived from the inbound bus id).
 *
 * When every provider fails, the user gets one honest "we'll get back to you" (its own idempotency key, so a
 * retry never sends it again) and the handler throws: the bus retries later and dead-letters after its attempts.
 *
 * Conversation experience (experience/): a text message that starts a burst waits until its chat is quiet and is
 * answered together with the messages stored after it (one model call, one reply whose `inReplyTo` lists them
 * all; the chat inbox records which reply answered which message in the same write as the saved answer, so their
 * own deliveries are acknowledged without a reply). A non-text message starts a burst too: with its user's text
 * after it, that text's turn answers it (the model is told it came) or forwards it (a paused chat); without, one
 * notice answers the lot (an album). For a channel that can edit its message the model's text is published as
 * partial replies while it streams; for one that cannot, a slow turn gets one "working on it" notice.
 *
 * @module
 */
import {
  chatKey,
  createEnvelopeParser,
  type InboundMessage,
  inboundMessageSchema,
  outboundTopic,
  type OutboundReply,
  replyIdempotencyKey,
} from "../../bus/envelopes.ts";
import { type Bus, type Delivery, type Handler, type Json, PermanentError, type PublishInput, RetryLaterError } from "../../bus/mod.ts";
import { builtInDefaultRole, type Config, DEFAULT_ROLE_NAME } from "../../config.ts";
import type { Logger } from "../../log.ts";
import { M } from "../../metrics/names.ts";
import type { Metrics } from "../../metrics/registry.ts";
import type { CacheHit, ResponseCache } from "../../router/cache.ts";
import { answersAgree, cacheScope } from "../../router/cache.ts";
import { type AttemptRecord, estimateInputTokens, type ModelRouter } from "../../router/chain.ts";
import { createBulkhead } from "../../router/providers/bulkhead.ts";
import type { ChatMessage } from "../../router/providers/types.ts";
import { AllProvidersFailedError } from "../../router/errors.ts";
import type { Faq } from "../../router/faq.ts";
import { smallTalk } from "../../router/normalize.ts";
import type { Client, InStatement } from "../../store/mod.ts";
import type { Tracer } from "../../trace/mod.ts";
import type { Conversations, Turn } from "./conversation.ts";
import { type LimitVerdict, payerOf, type UserLimits } from "./limits.ts";
import { RUNNING_AGENT_SQL, RUNNING_SEEN_WITHIN_MS } from "./records.ts";
import type { RoleHooks } from "./roles/mod.ts";
import { type ExperienceSettings, experienceOf } from "../channel/experience.ts";
import { burstFaq, burstMedia, burstText, burstTexts, collectBurst } from "./experience/burst.ts";
import type { Inbox, InboxRow } from "./experience/inbox.ts";
import { callModel } from "./experience/model-call.ts";
import { createLatencyEstimates, type LatencyEstimates } from "./experience/notice.ts";

/**
 * Turns waiting on a model at once (per process). The consumer runs many more turns than this, so FAQ and cache
 * answers never queue behind slow model calls; the rest of the model turns wait here for their turn instead of
 * finding every provider's bulkhead full (which would mean a fallback reply).
 */
const MODEL_TURNS = 16;
/**
 * How long a model turn may wait for a slot. Waiting costs no delivery attempt (the consumer's heartbeat keeps the
 * lease), so this only bounds a stuck process; stopping aborts the wait through the delivery's signal.
 */
const MODEL_TURN_WAIT_MS = 600_000;

/** Inbound messages answered by an earlier message's turn (their burst): no model call of their own. */
export const COALESCED_METRIC = "aideazz_messages_coalesced_total";

export interface TurnDeps {
  bus: Bus;
  client: Client;
  config: Config;
  conversations: Conversations;
  cache: ResponseCache | undefined;
  /** FAQ per role name. */
  faqs: ReadonlyMap<string, Faq>;
  /** Undefined when no provider is configured: FAQ and cache only. */
  router: ModelRouter | undefined;
  limits: UserLimits;
  tracer: Tracer;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  random: () => number;
  /** Name of the orchestrator agent (for decision records). */
  agent: string;
  /** Role logic (leads, sales, handoff, reply hygiene): src/agents/orchestrator/roles. */
  roles?: RoleHooks;
  /** The chat inbox: bursts, and which reply answered which message. */
  inbox: Inbox;
  /** Waits `ms` or rejects when `signal` aborts (the burst's quiet period). */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Provider latencies measured in this process (slow-turn prediction); default: a fresh one. */
  latency?: LatencyEstimates;
}

/** The bus ids of inbox rows (a row a channel stored without one has none). */
const busIdsOf = (rows: readonly InboxRow[]) => rows.flatMap((r) => (r.busId === undefined ? [] : [r.busId]));

/** What one turn answers: the message handled and the burst stored after it, with the turn's reply key. */
interface TurnScope {
  msg: InboundMessage;
  /** `msg` with the burst's text (what the FAQ, the cache and the model see). */
  turnMsg: InboundMessage;
  burst: InboxRow[];
  delivery: Delivery;
  replyKey: string;
  inReplyTo: number[];
  exp: ExperienceSettings;
  /** Media that came with the turn's text and nobody sees (burstMedia): the model is told, the turn is not cached. */
  media?: string | undefined;
}

interface RoleView {
  name: string;
  /** support, leads or sales: what the router's classify rules may name instead of the role's name. */
  kind: string;
  systemPrompt: string;
  greeting: string;
}

type Source = "command" | "limit" | "faq" | "cache" | "model" | "small-talk" | "none";

interface Answer {
  text: string;
  kind: OutboundReply["kind"];
  source: Source;
  tier: string;
  provider?: string;
  model?: string;
  reason: string;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  cacheHit?: CacheHit;
  /** Saved as a conversation turn (commands and limit notices are not). */
  remember: boolean;
}

export function createTurnHandler(deps: TurnDeps): Handler {
  const { config, bus, tracer, metrics, log, now } = deps;
  const conv = config.conversation;
  const latency = deps.latency ?? createLatencyEstimates();
  const modelTurns = createBulkhead(MODEL_TURNS, Number.MAX_SAFE_INTEGER);

  const roleOf = (channelAgent: string): RoleView => {
    const name = config.agents.find((a) => a.name === channelAgent)?.role ?? DEFAULT_ROLE_NAME;
    const role = config.roles[name] ?? builtInDefaultRole;
    return { name, kind: role.kind, systemPrompt: deps.roles?.systemPrompt(name) ?? role.systemPrompt, greeting: role.greeting };
  };

  /**
   * Publishes a reply of the turn. `suffix` names it (`answer`, `fallback`, `working`); `partial` is the sequence
   * number of a partial reply (the text so far), which shares the answer's reply key. `before`: the turn's own
   * rows (decision, saved answer, inbox states), committed in the same transaction as the reply. `last`: the
   * turn's last write — it commits with the delivery's ack, under its lease, once the handler returns.
   */
  async function publishReply(
    scope: TurnScope,
    text: string,
    kind: OutboundReply["kind"],
    suffix: string,
    { partial, before = [], last = false, then = [] }: {
      partial?: number | undefined;
      before?: InStatement[];
      last?: boolean;
      /** Replies published right after this one, in the same write. */
      then?: PublishInput[];
    } = {},
  ) {
    const { delivery } = scope;
    const message = replyMessage(scope, text, kind, suffix, partial);
    if (last) {
      delivery.ackWith({ before, publish: [message, ...then] });
    } else {
      // The lease is checked in the publish's own transaction: a check before it could pass for an attempt whose
      // message another process takes over before the write, and that attempt's reply would still go out.
      await delivery.underLease((guard) => bus.publish([message, ...then], { before: [...guard, ...before] }));
    }
    if (partial === undefined) tracer.event(delivery.traceId, "reply_queued", { replyKey: `${delivery.id}:${suffix}`, kind });
  }

  /** The bus message of a reply of the turn (publishReply). */
  function replyMessage(
    scope: TurnScope,
    text: string,
    kind: OutboundReply["kind"],
    suffix: string,
    partial?: number,
  ): PublishInput {
    const { msg, delivery } = scope;
    const replyKey = `${delivery.id}:${suffix}`;
    // Answers of a chat whose channel edits its messages: the final text replaces what partials showed.
    const streamed = scope.exp.stream !== undefined && suffix === "answer";
    const reply: OutboundReply = {
      agent: msg.agent,
      chatId: msg.chatId,
      text,
      inReplyTo: scope.inReplyTo,
      replyKey,
      kind,
      receivedAt: msg.receivedAt,
      ...(partial !== undefined ? { partial } : streamed ? { streamed } : {}),
    };
    const idem = partial === undefined
      ? replyIdempotencyKey(replyKey)
      : `${replyIdempotencyKey(replyKey)}:partial:${delivery.attempt}:${partial}`;
    return {
      topic: outboundTopic(msg.agent),
      key: chatKey(msg.agent, msg.chatId),
      payload: reply as unknown as Json,
      idempotencyKey: idem,
      ...(delivery.traceId ? { traceId: delivery.traceId } : {}),
    };
  }

  function command(msg: InboundMessage, role: RoleView, delivery: Delivery): Promise<Answer> | Answer {
    const name = msg.text.trim().split(/[\s@]/)[0]!.toLowerCase();
    const reply = (text: string, kind: OutboundReply["kind"] = "answer"): Answer => ({
      text, kind, source: "command", tier: "command", reason: name, remember: false,
    });
    switch (name) {
      case "/start":
        return reply(role.greeting, "greeting");
      case "/reset":
        return deps.conversations.reset(chatKey(msg.agent, msg.chatId)).then(() => reply(conv.resetText));
      case "/human":
        // roles: hands the chat to the role's operator before the notice; without one, the bot says so.
        return (deps.roles?.requestHandoff(msg, delivery, role.name) ?? Promise.resolve(false)).then((handed) =>
          reply(handed ? conv.handoffText : conv.noHandoffText, "notice")
        );
      default:
        return reply(conv.helpText);
    }
  }

  /** Answers a cache hit fresh in the background for a small share of hits: the measured false-hit rate. */
  function sampleCheck(hit: CacheHit, messages: ChatMessage[]) {
    if (!deps.router || !deps.cache || deps.random() >= config.cache.checkShare) return;
    const cache = deps.cache;
    deps.router.route({ request: { messages, maxTokens: conv.maxReplyTokens } }).then(async ({ response }) => {
      const agreed = answersAgree(response.text, hit.answer);
      metrics.inc(M.cacheChecks);
      if (!agreed) metrics.inc(M.cacheFalseHits);
      await cache.recordCheck(hit.entryId, agreed);
    }).catch((err) => log.debug("cache check skipped", { err }));
  }

  /** Router failures whose attempts are already recorded (from the router's own start). */
  const recorded = new WeakSet<AllProvidersFailedError>();

  /**
   * One metric and trace event per provider attempt; a provider not called (budget, quota, breaker open…) is counted
   * with its reason as the outcome (on the trace it is in the route decision's reason).
   */
  function recordAttempts(attempts: readonly AttemptRecord[], traceId: string | undefined, routed: number) {
    for (const a of attempts) {
      if (a.outcome === "skipped") {
        metrics.inc(M.providerRequests, { provider: a.provider, model: a.model, outcome: `skipped_${a.reason ?? "other"}` });
        continue;
      }
      const outcome = a.outcome === "ok" ? "ok" : a.status === 429 ? "429" : a.reason === "timeout" ? "timeout" : "error";
      metrics.inc(M.providerRequests, { provider: a.provider, model: a.model, outcome });
      metrics.observe(M.providerLatency, a.latencyMs, { provider: a.provider, model: a.model });
      tracer.event(traceId, "provider", { provider: a.provider, model: a.model, outcome, status: a.status ?? null }, {
        durationMs: a.latencyMs,
        at: routed + a.at,
      });
    }
  }

  /**
   * A question no FAQ entry or cached answer answers, and no model is configured: the role's operator, if it has one,
   * gets it and the chat (a handoff); true then.
   */
  async function handOver(t: TurnScope, role: RoleView, question: string): Promise<boolean> {
    const handed = (await deps.roles?.requestHandoff(t.turnMsg, t.delivery, role.name, question)) ?? false;
    log.info("no answer: no FAQ entry, cached answer or model", { trace: t.delivery.traceId, handedToOperator: handed });
    return handed;
  }

  /** The answer to a message over a limit: the minute's one notice, or nothing. */
  const limitNotice = (refused: Exclude<LimitVerdict, { ok: true }>): Answer => {
    const text = !refused.notify ? "" : refused.reason === "tokens" ? conv.tokenLimitedText : conv.rateLimitedText;
    return { text, kind: "notice", source: "limit", tier: "limit", reason: `over ${refused.reason} limit`, remember: false };
  };

  /**
   * Counts the message and the `more` of its burst, in order, against its user's rate limit before anything answers
   * them (commands, notices and too-long messages are replies too): how many are within it, and the verdict of the
   * rest. Every message of a burst counts, once: on the delivery's first lease (fence 1). A retried turn
   * (providers failed), one a stop released (its attempt not counted) and one taken over were admitted then, and
   * our failures must not use up the user's quota.
   */
  async function countRate(t: { msg: InboundMessage; delivery: Delivery }, more: number) {
    let within = more + 1;
    let refused: Exclude<LimitVerdict, { ok: true }> | undefined;
    for (let i = 0; t.delivery.fence === 1 && i <= more; i++) {
      const verdict = await deps.limits.admit(`${t.msg.channel}:${t.msg.userId}`);
      if (verdict.ok) continue;
      within = Math.min(within, i);
      refused = { ...verdict, notify: verdict.notify || (refused?.notify ?? false) };
    }
    return { within, refused };
  }

  /** Whether the chat has stored turns older than `history` (its most recent ones). */
  async function turnsBefore(chat: string, history: readonly Turn[]): Promise<boolean> {
    // Two more: `recent` drops the oldest turns while they are the assistant's.
    const more = await deps.conversations.recent(chat, Number.MAX_SAFE_INTEGER, history.length + 2);
    return more.length > history.length;
  }

  async function answerText(t: TurnScope, role: RoleView): Promise<Answer> {
    const { turnMsg: msg, delivery } = t;
    if (msg.text.length > conv.maxInputChars) {
      return { text: conv.tooLongText, kind: "notice", source: "limit", tier: "limit", reason: "too long", remember: false };
    }
    const faqs = deps.faqs.get(role.name);
    const texts = burstTexts(t.burst);
    const parts = faqs && texts.length > 0 ? burstFaq(faqs, [t.msg.text, ...texts]) : undefined;
    // A burst: the FAQ answers of its messages, when each has one, or when no model could answer the rest (a
    // greeting beside the questions gets no answer of its own); else the model takes the whole burst.
    if (parts && parts.matched > 0 && (parts.matched === parts.of || !deps.router)) {
      const answered: Answer = { text: parts.text, kind: "answer", source: "faq", tier: "faq", reason: `faq ${parts.ids} (burst)`, remember: true };
      // Without a model, the burst's other questions go to the operator together (small talk beside them does not).
      const rest = parts.unmatched.filter((text) => smallTalk(text) === undefined);
      if (rest.length === 0) return answered;
      const handed = await handOver(t, role, rest.join("\n"));
      return { ...answered, text: `${parts.text}\n\n${handed ? conv.noAnswerHandoffText : conv.noAnswerText}` };
    }
    const faq = parts && parts.matched > 0 ? null : faqs?.answer(msg.text);
    if (faq) {
      return { text: faq.answer, kind: "answer", source: "faq", tier: "faq", reason: `faq ${faq.id} (${faq.score.toFixed(2)})`, remember: true };
    }
    const chat = chatKey(msg.agent, msg.chatId);
    const history = await deps.conversations.recent(chat, conv.maxContextTokens);
    // roles: a lead's stage and fields
    const { known: fields, ...facts } = (await deps.roles?.turnFacts(role.name, chat)) ?? {};
    // A lead's fields stand in for turns that left the history. While every stored turn is in it, they add only what
    // came from turns deleted since (a /reset, retention): the model is not told that; the lead keeps it.
    const known = fields !== undefined && (await turnsBefore(chat, history)) ? fields : undefined;
    const messages: ChatMessage[] = [
      { role: "system" as const, content: role.systemPrompt },
      ...(known ? [{ role: "system" as const, content: known }] : []),
      ...history.map((t) => ({ role: t.role, content: t.text })),
      // Else it answers a caption as if it had seen the photo.
      { role: "user" as const, content: t.media ? `[${t.media}, not visible to you] ${msg.text}` : msg.text },
    ];
    // Only context-free turns are cached and served: an answer written for one conversation is never replayed
    // into another (RELIABILITY.md D7). A question about a photo is not the same question without it.
    const contextFree = history.length === 0 && known === undefined && t.media === undefined;
    const scope = contextFree && deps.cache && config.cache.enabled ? cacheScope(role.name, role.systemPrompt) : undefined;
    if (scope && deps.cache) {
      const hit = await deps.cache.lookup(scope, msg.text, delivery.signal);
      // The hit rate is of questions: a retried turn's lookup is not counted again.
      if (delivery.attempt === 1) metrics.inc(M.cacheLookups, { result: hit ? "hit" : "miss" });
      tracer.event(delivery.traceId, "cache", hit ? { result: "hit", tier: hit.tier, score: hit.score } : { result: "miss" });
      if (hit) {
        sampleCheck(hit, messages);
        return { text: hit.answer, kind: "answer", source: "cache", tier: `cache:${hit.tier}`, reason: `cache ${hit.tier} (${hit.score.toFixed(2)})`, cacheHit: hit, remember: true };
      }
    }
    if (!deps.router) {
      // Small talk asks nothing: a greeting gets the role's, thanks and goodbyes nothing; nobody is called for them.
      const talk = smallTalk(msg.text);
      if (talk === "greeting") {
        return { text: role.greeting, kind: "greeting", source: "small-talk", tier: "small-talk", reason: "greeting", remember: true };
      }
      if (talk === "closing") {
        return { text: "", kind: "notice", source: "small-talk", tier: "small-talk", reason: "acknowledgement", remember: false };
      }
      // A person is promised only when one is told.
      const text = (await handOver(t, role, msg.text)) ? conv.noAnswerHandoffText : conv.noAnswerText;
      return { text, kind: "notice", source: "none", tier: "none", reason: "no provider configured", remember: true };
    }
    const turn = {
      text: msg.text,
      role: role.name,
      roleKind: role.kind,
      stage: history.length === 0 ? "first" : "ongoing",
      ...facts,
    };
    // What the chat was told before: a prompt asked for a piece per message shows in the replies together.
    const earlier = history.flatMap((h) => (h.role === "assistant" ? [h.text] : []));
    const held = await deps.limits.hold(payerOf(config, msg), estimateInputTokens(messages) + conv.maxReplyTokens);
    if (!held.ok) return limitNotice(held);
    // A turn stopped while it waits for a slot (the agent stopping, its lease lost) gives its hold back too.
    const release = await modelTurns.acquire(MODEL_TURN_WAIT_MS, delivery.signal).catch(async (err) => {
      await deps.limits.settle(held.hold, 0);
      throw err;
    });
    if (!release) {
      await deps.limits.settle(held.hold, 0);
      throw new Error(`no model slot free within ${MODEL_TURN_WAIT_MS} ms (${MODEL_TURNS} model turns in flight)`);
    }
    // The router times its attempts from its own start: their trace events are placed from here.
    const routed = now();
    const { response, decision } = await callModel({
      router: deps.router,
      exp: t.exp,
      delivery,
      channel: msg.channel,
      request: { messages, maxTokens: conv.maxReplyTokens },
      turn,
      latency,
      publish: (text, kind, suffix, partial) => publishReply(t, text, kind, suffix, { partial }),
      reviewPartial: (text) => deps.roles ? deps.roles.reviewPartial(role.name, text, earlier) : text,
      metrics,
      tracer,
      log,
      now,
    }).catch(async (err) => {
      if (err instanceof AllProvidersFailedError) {
        recordAttempts(err.attempts, delivery.traceId, routed);
        recorded.add(err);
      }
      await deps.limits.settle(held.hold, 0);
      throw err;
    }).finally(release);
    tracer.event(delivery.traceId, "route", { tier: decision.tier, provider: decision.provider, reason: decision.reason });
    recordAttempts(decision.attempts, delivery.traceId, routed);
    for (const a of decision.attempts) if (a.outcome === "ok") latency.observe(a.provider, a.latencyMs);
    const tokens = decision.tokens.inputTokens + decision.tokens.outputTokens;
    // An answer that reports no usage (a server ignoring `include_usage`) used tokens all the same: it keeps its hold.
    await deps.limits.settle(held.hold, tokens > 0 ? tokens : held.hold.tokens);
    // roles: handoff marker, sales price guard, instruction-leak refusal, link allow-list — before cache and send.
    const reviewed = deps.roles
      ? await deps.roles.review({
        role: role.name,
        msg,
        delivery,
        messages,
        turn,
        maxTokens: conv.maxReplyTokens,
        text: response.text,
        earlier,
        deadlineAt: routed + config.router.deadlineMs,
      })
      : { text: response.text, cacheable: true };
    // Only a whole answer is cached: not one cut at maxReplyTokens, refused or filtered, or ended otherwise.
    if (scope && deps.cache && reviewed.cacheable && reviewed.text.trim() !== "" && response.finishReason === "stop") {
      await deps.cache.store(scope, msg.text, reviewed.text, { provider: decision.provider, model: decision.model })
        .catch((err) => log.warn("cache store failed", { err }));
    }
    return {
      text: reviewed.text,
      kind: "answer",
      source: "model",
      tier: decision.tier,
      provider: decision.provider,
      model: decision.model,
      reason: decision.reason,
      inputTokens: decision.tokens.inputTokens,
      outputTokens: decision.tokens.outputTokens,
      costUsd: decision.costUsd,
      // A refused exchange left in the conversation makes the model refuse the next turns too.
      remember: response.finishReason !== "content_filter",
    };
  }

  function decisionStatement(delivery: Delivery, answer: Answer, latencyMs: number): InStatement {
    return {
      sql: `INSERT INTO router_decisions (inbound_id, trace_id, agent, at, tier, source, provider, model, reason, latency_ms,
              input_tokens, output_tokens, cost_usd, cache_hit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      args: [
        delivery.id, delivery.traceId ?? null, deps.agent, now(), answer.tier, answer.source, answer.provider ?? null,
        answer.model ?? null, answer.reason, latencyMs, answer.inputTokens ?? 0, answer.outputTokens ?? 0,
        answer.costUsd ?? 0, answer.cacheHit ? 1 : 0,
      ],
    };
  }

  /** The messages stored after `msg` that this turn answers too (none unless `msg` starts a burst). */
  function burstOf(msg: InboundMessage, own: InboxRow | undefined, delivery: Delivery, exp: ExperienceSettings) {
    if (!own || own.state !== "pending" || msg.kind === "command" || !exp.coalesce.enabled) return Promise.resolve([]);
    if (msg.text.length > conv.maxInputChars) return Promise.resolve([]);
    return collectBurst({ inbox: deps.inbox, now, sleep: deps.sleep }, {
      agent: msg.agent,
      chatId: msg.chatId,
      own,
      userId: msg.userId,
      settings: exp.coalesce,
      wait: delivery.attempt === 1,
      maxChars: conv.maxInputChars,
      signal: delivery.signal,
    });
  }

  // A kind or channel only a newer channel agent sends waits on the bus for this agent's upgrade; a malformed
  // message is dead-lettered at once (createEnvelopeParser).
  const parseInbound = createEnvelopeParser(inboundMessageSchema, "inbound message", { log, now });

  /**
   * A message of a channel agent this orchestrator's config does not have is not answered as the default role, nor
   * into an outbound topic nobody sends. Running (started, not stopped): the agent was added or changed after this
   * orchestrator read its config, so it waits for the restart, uncounted; else the agent was renamed or removed: a
   * dead letter naming it.
   */
  const unknownAgents = new Set<string>();
  async function checkAgent(agent: string): Promise<void> {
    if (config.agents.some((a) => a.name === agent && a.kind !== "orchestrator" && a.kind !== "analytics")) return;
    const rs = await deps.client.execute({
      sql: `SELECT 1 FROM agent_heartbeats WHERE agent = ? AND ${RUNNING_AGENT_SQL} LIMIT 1`,
      args: [agent, now() - RUNNING_SEEN_WITHIN_MS],
    });
    if (rs.rows.length === 0) {
      throw new PermanentError(`channel agent "${agent}" is not in the config (renamed or removed?): nobody would send its reply`);
    }
    const text = `channel agent "${agent}" runs but is not in this orchestrator's config: restart the orchestrator`;
    if (!unknownAgents.has(agent)) log.warn(text, { agent });
    unknownAgents.add(agent);
    throw new RetryLaterError(text, { retryAt: now() + 10_000, uncounted: true });
  }

  return async (delivery) => {
    const started = now();
    const msg = parseInbound(delivery);
    await checkAgent(msg.agent);
    tracer.event(delivery.traceId, "claimed", { group: delivery.group, attempt: delivery.attempt });
    const chat = chatKey(msg.agent, msg.chatId);
    const answerKey = `${delivery.id}:answer`;
    const own = await deps.inbox.get(msg.agent, msg.platformId);
    // Answered by the turn of an earlier message of its burst, or silenced (a paused chat): nothing more to say.
    if (own && own.state !== "pending" && own.replyKey !== answerKey) {
      if (own.state === "answered") metrics.inc(COALESCED_METRIC, { channel: msg.channel });
      tracer.event(delivery.traceId, "reply_queued", { coalesced: own.state, replyKey: own.replyKey ?? null });
      return;
    }
    const exp = experienceOf(config.agents, msg.agent);
    // Saved with the reply in one transaction; a redelivery (the ack was lost) publishes that answer again (a
    // duplicate publish is a no-op), without a model call. The lead extraction after it may not have run (a crash
    // mid-call): it runs again, the turn not counted twice (a qualified lead's notice goes once: its reply key).
    const saved = await deps.conversations.answerFor(delivery.id);
    if (saved !== undefined) {
      const answered = busIdsOf(await deps.inbox.answeredBy(answerKey)).filter((id) => id !== delivery.id);
      const inReplyTo = [delivery.id, ...answered];
      const again = { msg, turnMsg: msg, burst: [], delivery, replyKey: answerKey, inReplyTo, exp };
      const role = roleOf(msg.agent);
      const after = deps.roles?.hasAfterTurn(role.name) === true;
      await publishReply(again, saved, "answer", "answer", { last: !after });
      if (after) await deps.roles?.afterTurn(msg, delivery, role.name, true);
      return;
    }
    // Non-text messages sent just before this text, which their turns left to it (`lead` below): it answers or
    // forwards them with it.
    const earlier = own && msg.kind === "text"
      ? (await deps.inbox.answeredBy(answerKey)).filter((r) => r.seq < own.seq)
      : [];
    // roles: operator commands and paused (handed-off) chats get no bot answer; a paused chat's messages count
    // against the rate limit before they are forwarded (once: not again on a retried attempt). A media message's
    // burst is collected first: a paused chat's album (a caption and its photos) reaches the operator as one forward.
    const media = msg.kind === "unsupported" || msg.attachment !== undefined;
    const early = media ? await burstOf(msg, own, delivery, exp) : undefined;
    // A non-text message followed by its user's text (a photo, then its question; an album whose caption is on a
    // later item): that text's turn answers it, or forwards it; this one says nothing, for itself only.
    const lead = msg.kind === "unsupported" ? early?.find((r) => r.kind === "text") : undefined;
    const album: InboxRow[] = [];
    for (const row of early ?? []) {
      if (row.kind !== "unsupported") break; // a text after the photos is a message of its own
      album.push(row);
    }
    const albumMedia = burstMedia(msg, [...earlier, ...album]);
    const forwarded = earlier.length + album.length === 0 || albumMedia === undefined
      ? msg
      : msg.kind === "unsupported"
      ? { ...msg, text: `[${albumMedia}]` }
      : { ...msg, attachment: albumMedia };
    const admit = async () => {
      const { refused } = await countRate({ msg, delivery }, album.length);
      return refused && limitNotice(refused).text;
    };
    if (!lead && await deps.roles?.intercept(forwarded, delivery, admit)) {
      const finished = deps.inbox.finish({ msg, busId: delivery.id }, album, "silent", undefined, now());
      await deps.client.batch(finished, "write");
      return;
    }
    const collected = early ?? await burstOf(msg, own, delivery, exp);
    // What this turn answers with its message: nothing beside a text (that text's turn does); else its burst, with
    // one answer, or for non-text messages one notice for the lot.
    const all = lead ? [] : collected;
    const rate = await countRate({ msg, delivery }, all.length);
    // A burst that crosses the limit: its messages within it are answered, the rest get the minute's notice after
    // that answer, or nothing. Past it from its first message, the whole burst gets the notice.
    const burst = rate.within === 0 ? all : all.slice(0, rate.within - 1);
    const over = all.slice(burst.length);
    const turnMsg = burst.length === 0 ? msg : { ...msg, text: burstText(msg.text, burst) };
    const inReplyTo = [delivery.id, ...busIdsOf(earlier), ...busIdsOf(burst)];
    // Else the model answers "yes, that cable fits" about a photo it never saw, and the answer is cached for others.
    const turnMedia = burstMedia(msg, [...earlier, ...burst]);
    const scope: TurnScope = { msg, turnMsg, burst, delivery, replyKey: answerKey, inReplyTo, exp, media: turnMedia };
    if (burst.length > 0) tracer.event(delivery.traceId, "route", { purpose: "burst", messages: burst.length + 1 });
    const role = roleOf(msg.agent);
    let answer: Answer;
    try {
      answer = rate.within === 0 ? limitNotice(rate.refused!) : (msg.kind === "command"
        ? await command(msg, role, delivery)
        : lead
        ? { text: "", kind: "notice", source: "command", tier: "command", reason: "beside a text", remember: false }
        : msg.kind === "unsupported"
        ? { text: conv.unsupportedText, kind: "notice", source: "command", tier: "command", reason: "unsupported", remember: false }
        : await answerText(scope, role));
    } catch (err) {
      if (!(err instanceof AllProvidersFailedError)) throw err;
      // Another call (a role's review asking again) failed: its attempts are placed from the turn's start.
      if (!recorded.has(err)) recordAttempts(err.attempts, delivery.traceId, started);
      if (err.requestRefused) {
        // Every provider refused the request itself (it no longer fits a context window, say): a retry would send
        // it unchanged. The user is told at once, not "back shortly" followed by a dead letter.
        log.warn("every provider refused the request; answering the refusal notice", { trace: delivery.traceId, err });
        answer = { text: conv.refusedText, kind: "notice", source: "none", tier: err.tier, reason: "refused by every provider", remember: false };
      } else {
        // Once per message: when its last attempt fails (it is dead-lettered next), not at every retry.
        if (delivery.attempt >= conv.maxAttempts) {
          metrics.inc(M.routerDecisions, { tier: err.tier, provider: "none", outcome: "failed" });
        }
        log.warn("every provider failed; sending the fallback reply, message stays queued", { trace: delivery.traceId, err });
        await publishReply(scope, conv.fallbackText, "fallback", "fallback");
        throw err;
      }
    }
    // A notice that nothing could answer counts as unanswered (kpis.ts answerRate).
    const outcome = answer.source === "none" ? "unanswered" : "answered";
    metrics.inc(M.routerDecisions, { tier: answer.tier, provider: answer.provider ?? answer.source, outcome });
    // Model and cache answers have their own stages; the others (FAQ, command, limit) say here what answered.
    if (answer.source !== "model" && answer.source !== "cache") {
      tracer.event(delivery.traceId, "route", { tier: answer.tier, reason: answer.reason });
    }
    const latencyMs = now() - started;
    const statements = [decisionStatement(delivery, answer, latencyMs)];
    if (answer.remember) {
      const asked = turnMedia ? `[${turnMedia}] ${turnMsg.text}` : turnMsg.text;
      statements.push(...deps.conversations.saveStatements(chat, delivery.id, { role: "user", text: asked, at: msg.receivedAt }, {
        role: "assistant",
        text: answer.text,
        at: now(),
      }));
    }
    // Which messages this reply answers, in the same write as the saved answer. A silent message beside its text is
    // answered by the text's reply: the text's turn finds it by that key.
    const silent = answer.text === "";
    const key = !silent ? answerKey : lead ? `${lead.busId}:answer` : undefined;
    statements.push(...deps.inbox.finish({ msg, busId: delivery.id }, burst, key ? "answered" : "silent", key, now()));
    const overText = over.length > 0 ? limitNotice(rate.refused!).text : "";
    const overKey = `${delivery.id}:limit`;
    statements.push(...deps.inbox.finishOthers(msg.agent, over, overText ? "answered" : "silent", overText ? overKey : undefined, now()));
    const then = overText ? [replyMessage({ ...scope, inReplyTo: busIdsOf(over) }, overText, "notice", "limit")] : [];
    // roles: lead extraction reads the saved turn, so the reply commits before it.
    const after = answer.remember && deps.roles?.hasAfterTurn(role.name) === true;
    // An empty text is a deliberate silence (a second message over the rate limit): nothing to send.
    if (silent && !after) {
      delivery.ackWith({ before: statements, publish: then });
    } else if (silent) {
      await delivery.underLease((guard) => bus.publish(then, { before: [...guard, ...statements] }));
    } else {
      await publishReply(scope, answer.text, answer.kind, "answer", { before: statements, last: !after, then });
    }
    if (after) await deps.roles?.afterTurn(turnMsg, delivery, role.name);
  };
}
