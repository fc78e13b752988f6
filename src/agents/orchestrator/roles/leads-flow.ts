/**
 * Lead qualification for `kind: "leads"` roles: after every Nth remembered turn, the recent conversation goes
 * through a structured extraction (extract.ts); valid fields are merged into the chat's lead, which is scored
 * (score.ts) and moved forward (engaged when something is known, qualified at the threshold). The first time a
 * lead qualifies, the operator's Telegram chat gets one notice (reply key per lead). The lead's stage and
 * qualification are routing facts: a qualified lead's turns are high-value.
 *
 * @module
 */
import { chatKey, type InboundMessage } from "../../../bus/envelopes.ts";
import type { Delivery } from "../../../bus/mod.ts";
import type { Logger } from "../../../log.ts";
import { estimateInputTokens, type ModelRouter } from "../../../router/chain.ts";
import type { TurnFacts } from "../../../router/classify.ts";
import type { Tracer } from "../../../trace/mod.ts";
import type { Conversations } from "../conversation.ts";
import type { TokenPayer, UserLimits } from "../limits.ts";
import { LEAD_FIELDS } from "./config.ts";
import { extractionMessages, parseExtraction } from "./extract.ts";
import type { Lead, Leads } from "./leads.ts";
import { isReachable, type LeadFields, scoreLead } from "./score.ts";
import type { SendFn } from "./send.ts";
import type { RoleSettings } from "./settings.ts";

export interface LeadsFlowDeps {
  leads: Leads;
  conversations: Conversations;
  router: ModelRouter | undefined;
  send: SendFn;
  /** The daily token budget an extraction is held against, as the turn's own call (`payerOf`: whose). */
  limits: UserLimits;
  payerOf(msg: InboundMessage): TokenPayer;
  tracer: Tracer;
  log: Logger;
  now: () => number;
}

/**
 * What a role tells the turn: its routing facts, and (`known`) a note for the model of what the visitor already told
 * (a lead's fields), which it would otherwise ask again once those turns left the history it is given.
 */
export type RoleFacts = Pick<TurnFacts, "stage" | "leadQualified"> & { known?: string };

export interface LeadsFlow {
  facts(role: RoleSettings | undefined, chat: string): Promise<RoleFacts>;
  /** `again`: the turn was counted by an earlier attempt (a redelivery after its reply was saved). */
  afterTurn(msg: InboundMessage, delivery: Delivery, role: RoleSettings, again?: boolean): Promise<void>;
}

/**
 * Names the lead by its chat key, never a bare number: in the operator chat `#N` is a handoff's number, and
 * `/reply N` would reach another customer.
 */
export function qualifiedNotice(lead: Lead, fields: LeadFields, score: number): string {
  return [
    `Qualified lead in ${lead.chat} (score ${score}, role ${lead.role}):`,
    ...LEAD_FIELDS.map((f) => `${f}: ${fields[f] ?? "-"}`),
    `Answer: /reply ${lead.chat} <text>`,
  ].join("\n");
}

/**
 * `found` over `before`. An e-mail address or phone number is not replaced by a contact without one ("WhatsApp"):
 * the turn that gave it may have left the transcript.
 */
function merge(before: LeadFields, found: LeadFields): LeadFields {
  const fields = { ...before, ...found };
  const contact = before.contact;
  if (contact && isReachable(contact) && !isReachable(fields.contact ?? "")) fields.contact = contact;
  return fields;
}

export function createLeadsFlow(deps: LeadsFlowDeps): LeadsFlow {
  const { leads, now } = deps;
  return {
    async facts(role, chat) {
      if (role?.kind !== "leads") return {};
      const lead = await leads.get(chat);
      const facts = { stage: lead?.stage ?? "new", leadQualified: lead?.qualifiedAt !== undefined };
      // Only what was extracted since the chat's last /reset: the lead keeps the rest, the model is not told it.
      const known = Object.fromEntries(LEAD_FIELDS.flatMap((f) => (lead?.known[f] ? [[f, lead.known[f]]] : [])));
      if (Object.keys(known).length === 0) return facts;
      // As JSON: the visitor's words are data here, not instructions.
      return { ...facts, known: `Already known about the visitor (do not ask again): ${JSON.stringify(known)}` };
    },

    async afterTurn(msg, delivery, role, again = false) {
      const cfg = role.leads;
      if (!cfg) return;
      const chat = chatKey(msg.agent, msg.chatId);
      const lead = (again ? await leads.get(chat) : undefined) ?? await leads.touch(chat, msg.agent, msg.chatId, role.name);
      if (!deps.router || lead.turns % cfg.extractEvery !== 0 || lead.stage === "closed") return;
      const transcript = await deps.conversations.recent(chat, cfg.extractContextTokens);
      const messages = extractionMessages(transcript, lead.known);
      const request = { messages, maxTokens: 200, temperature: 0 };
      // A model call like the turn's: a user whose day's tokens are spent (FAQ and cache answers go on past the
      // budget, and are remembered turns) must not cause one per message.
      const most = estimateInputTokens(messages) + request.maxTokens;
      const held = await deps.limits.hold(deps.payerOf(msg), most, { notice: false });
      if (!held.ok) return;
      const { response, decision } = await deps.router.route({ request, tier: "simple", signal: delivery.signal })
        .catch(async (err) => {
          await deps.limits.settle(held.hold, 0);
          throw err;
        });
      const used = decision.tokens.inputTokens + decision.tokens.outputTokens;
      // An answer that reports no usage used tokens all the same: it keeps its hold.
      await deps.limits.settle(held.hold, used > 0 ? used : most);
      const found = parseExtraction(response.text);
      deps.tracer.event(delivery.traceId, "route", {
        purpose: "lead extraction",
        tier: decision.tier,
        provider: decision.provider,
        valid: found !== undefined,
        fields: Object.keys(found ?? {}).length,
      });
      if (!found) {
        deps.log.debug("lead extraction gave nothing usable", { chat, trace: delivery.traceId });
        return;
      }
      const fields = merge(lead.fields, found);
      const score = scoreLead(fields, cfg, now());
      const qualifies = score >= cfg.threshold;
      const first = qualifies && lead.qualifiedAt === undefined;
      // Notify before marking: a crash in between sends the notice again with the same reply key (sent once).
      if (first && role.operator) {
        await deps.send(
          delivery,
          role.operator,
          qualifiedNotice(lead, fields, score),
          `lead:${lead.id}:qualified`,
        );
      }
      await leads.update(lead.id, {
        fields,
        known: merge(lead.known, found),
        score,
        stage: qualifies ? "qualified" : "engaged",
        reason: qualifies
          ? `score ${score} >= ${cfg.threshold}`
          : `collected ${Object.keys(fields).join(", ")}`,
        ...(first ? { qualifiedAt: now() } : {}),
      });
    },
  };
}
