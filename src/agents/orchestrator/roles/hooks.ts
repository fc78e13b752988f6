/**
 * The role logic as the orchestrator's turn handler sees it: a handful of hooks called at fixed points of a
 * turn (see turn.ts). Roles without role logic configured pass through unchanged.
 *
 * @module
 */
import { chatKey, type InboundMessage } from "../../../bus/envelopes.ts";
import type { Bus, Delivery } from "../../../bus/mod.ts";
import { type Config, DEFAULT_ROLE_NAME } from "../../../config.ts";
import type { Logger } from "../../../log.ts";
import { type Decision, estimateInputTokens, type ModelRouter } from "../../../router/chain.ts";
import type { TurnFacts } from "../../../router/classify.ts";
import { AllProvidersFailedError } from "../../../router/errors.ts";
import type { ChatMessage, ChatRequest } from "../../../router/providers/types.ts";
import type { Client } from "../../../store/mod.ts";
import type { Tracer } from "../../../trace/mod.ts";
import type { Conversations } from "../conversation.ts";
import { payerOf, type UserLimits } from "../limits.ts";
import { type Admit, createHandoffFlow, MARKER_REASON } from "./handoff-flow.ts";
import { createHandoffs } from "./handoffs.ts";
import { createLeads } from "./leads.ts";
import { createLeadsFlow, type RoleFacts } from "./leads-flow.ts";
import { reviewPartial, reviewReply } from "./review.ts";
import { createSend } from "./send.ts";
import { resolveRoles } from "./settings.ts";

export interface RoleHooksDeps {
  config: Config;
  bus: Bus;
  client: Client;
  conversations: Conversations;
  router: ModelRouter | undefined;
  limits: UserLimits;
  tracer: Tracer;
  log: Logger;
  now: () => number;
}

export interface ReviewHookInput {
  role: string;
  msg: InboundMessage;
  delivery: Delivery;
  /** The messages the model answered (for asking again). */
  messages: readonly ChatMessage[];
  turn: TurnFacts;
  maxTokens: number;
  text: string;
  /** The chat's earlier replies in the history the model saw, oldest first (the leak check reads them too). */
  earlier: readonly string[];
  /** When the turn's reply is due (`router.deadlineMs` from its model call): a re-ask gets what is left. */
  deadlineAt: number;
}

export interface RoleHooks {
  /** The system prompt of a configured role (undefined for an unknown one: the caller keeps its own). */
  systemPrompt(role: string): string | undefined;
  /**
   * Operator commands and paused chats; true when the message is fully handled (no bot answer). `admit`: the rate
   * limit, for a user's message forwarded to the operator.
   */
  intercept(msg: InboundMessage, delivery: Delivery, admit: Admit): Promise<boolean>;
  /**
   * Hands the chat to the role's operator, if it has one; false when it has none. `/human`, or (`unanswered`) a
   * question no FAQ entry answers when no model is configured.
   */
  requestHandoff(msg: InboundMessage, delivery: Delivery, role: string, unanswered?: string): Promise<boolean>;
  /** Routing facts of the role (a lead's stage and whether it is qualified), and what the model must know (`known`). */
  turnFacts(role: string, chat: string): Promise<RoleFacts>;
  /** Reviews a model reply before it is cached or sent; `cacheable` false keeps it out of the cache. */
  review(input: ReviewHookInput): Promise<{ text: string; cacheable: boolean }>;
  /** What of a streamed reply may be shown before `review` sees the whole; undefined: show nothing more. */
  reviewPartial(role: string, text: string, earlier: readonly string[]): string | undefined;
  /**
   * After a remembered turn was saved and its reply queued: lead extraction. Never throws. `again`: a redelivery
   * of a turn whose reply was saved (its extraction may not have run), not a new turn.
   */
  afterTurn(msg: InboundMessage, delivery: Delivery, role: string, again?: boolean): Promise<void>;
  /** Whether `afterTurn` has work for the role (it reads the saved turn: the reply is committed before it). */
  hasAfterTurn(role: string): boolean;
}

/** Builds the hooks. Every role's operator is a telegram agent: the config's schema refuses any other. */
export function createRoleHooks(deps: RoleHooksDeps): RoleHooks {
  const { config, tracer, log, now } = deps;
  const roles = resolveRoles(config);
  // An agent without a role answers as the default role (turn.ts roleOf).
  const roleOfAgent = (agent: string) =>
    roles.get(config.agents.find((a) => a.name === agent)?.role ?? DEFAULT_ROLE_NAME);
  const send = createSend(deps.bus, tracer);
  const leads = createLeads(deps.client, now);
  const handoffs = createHandoffs(deps.client, now);

  /**
   * Counts a follow-up call against its user: what it used, or at its most (estimated input and `maxTokens`) when
   * the provider reported no usage (a server ignoring `include_usage`), as the turn's own call is.
   */
  async function account(msg: InboundMessage, d: Decision, request: Pick<ChatRequest, "messages" | "maxTokens">) {
    const used = d.tokens.inputTokens + d.tokens.outputTokens;
    const most = estimateInputTokens(request.messages) + request.maxTokens;
    await deps.limits.spend(payerOf(config, msg), used > 0 ? used : most);
  }

  const handoff = createHandoffFlow({
    client: deps.client,
    roles,
    agents: config.agents,
    roleOfAgent,
    handoffs,
    leads,
    conversations: deps.conversations,
    send,
    handoffText: config.conversation.handoffText,
    log,
    now,
  });
  const leadsFlow = createLeadsFlow({
    leads,
    conversations: deps.conversations,
    router: deps.router,
    send,
    limits: deps.limits,
    payerOf: (msg) => payerOf(config, msg),
    tracer,
    log,
    now,
  });

  return {
    systemPrompt: (role) => roles.get(role)?.systemPrompt,
    intercept: (msg, delivery, admit) => handoff.intercept(msg, delivery, admit),
    async requestHandoff(msg, delivery, role, unanswered) {
      const settings = roles.get(role);
      if (!settings) return false;
      if (unanswered === undefined) return await handoff.start(msg, delivery, settings, "the user asked for a person");
      return await handoff.start(msg, delivery, settings, "the FAQ has no answer and no model is configured", [
        { role: "user", text: unanswered, at: msg.receivedAt },
      ]);
    },
    turnFacts: (role, chat) => leadsFlow.facts(roles.get(role), chat),
    reviewPartial(name, text, earlier) {
      const role = roles.get(name);
      return role ? reviewPartial(role, text, earlier) : text;
    },
    async review(input) {
      const role = roles.get(input.role);
      if (!role) return { text: input.text, cacheable: true };
      const { msg, delivery } = input;
      const reviewed = await reviewReply({
        role,
        question: msg.text,
        text: input.text,
        earlier: input.earlier,
        // A re-ask that gets no answer in the turn's time left gives the first answer back: the review then sends
        // what it sends for that answer (the catalogue reply), not the fallback notice and a paid retry.
        reask: async (instruction) => {
          const deadlineMs = input.deadlineAt - now();
          if (!deps.router || deadlineMs <= 0) return input.text;
          const request = { messages: [...input.messages, { role: "system" as const, content: instruction }], maxTokens: input.maxTokens };
          try {
            const { response, decision } = await deps.router.route({ request, turn: input.turn, signal: delivery.signal, deadlineMs });
            await account(msg, decision, request);
            return response.text;
          } catch (err) {
            if (!(err instanceof AllProvidersFailedError)) throw err;
            log.warn("re-ask failed; the first answer is reviewed as it is", { role: role.name, trace: delivery.traceId, err });
            return input.text;
          }
        },
      });
      if (reviewed.notes.length > 0) {
        tracer.event(delivery.traceId, "route", {
          purpose: "reply review",
          notes: reviewed.notes.join("; "),
        });
        log.info("reply reviewed", { role: role.name, notes: reviewed.notes, trace: delivery.traceId });
      }
      // A reply that was nothing but the marker (or a removed link) still says something; one the review replaced
      // (a catalogue reply, a refusal) says a person takes over too.
      const handoffText = config.conversation.handoffText;
      const text = !reviewed.handoff
        ? reviewed.text || role.refusalText
        : reviewed.text === ""
        ? handoffText
        : reviewed.replaced
        ? `${reviewed.text}\n\n${handoffText}`
        : reviewed.text;
      if (reviewed.handoff) {
        await handoff.start(msg, delivery, role, MARKER_REASON, [
          { role: "user", text: msg.text, at: msg.receivedAt },
          { role: "assistant", text, at: now() },
        ]);
      }
      return { text, cacheable: reviewed.cacheable };
    },
    hasAfterTurn: (role) => roles.get(role)?.leads !== undefined,
    async afterTurn(msg, delivery, role, again = false) {
      const settings = roles.get(role);
      if (!settings?.leads) return;
      try {
        await leadsFlow.afterTurn(msg, delivery, settings, again);
      } catch (err) {
        // The reply already went out: a failed extraction waits for the next turn, it never redelivers this one.
        log.warn("lead extraction failed", {
          chat: chatKey(msg.agent, msg.chatId),
          trace: delivery.traceId,
          err,
        });
      }
    },
  };
}
