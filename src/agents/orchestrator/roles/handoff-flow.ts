/**
 * Human handoff: pausing a chat (the user's /human or the model's marker) forwards the recent conversation to
 * the operator's Telegram chat; while paused, the user's messages are forwarded there (no bot answer, no model
 * call); the operator answers with commands (operator.ts); `/resume` from the operator or `/bot` from the user
 * gives the chat back to the bot. Messages that are forwarded or relayed are saved as conversation turns, so the
 * model knows what was said when it takes over again.
 *
 * @module
 */
import { chatKey, type InboundMessage } from "../../../bus/envelopes.ts";
import type { Delivery } from "../../../bus/mod.ts";
import type { Client } from "../../../store/mod.ts";
import type { Conversations, Turn } from "../conversation.ts";
import { handoffSchema, type OperatorConfig } from "./config.ts";
import type { Handoff, Handoffs } from "./handoffs.ts";
import type { Leads } from "./leads.ts";
import { forwardNotice, handoffNotice, listNotice, OPERATOR_HELP, parseOperatorCommand } from "./operator.ts";
import type { RoleSettings } from "./settings.ts";
import { type SendFn, turnStatement } from "./send.ts";

export interface HandoffFlowDeps {
  client: Client;
  roles: ReadonlyMap<string, RoleSettings>;
  /** Role name of each channel agent. */
  roleOfAgent: (agent: string) => RoleSettings | undefined;
  handoffs: Handoffs;
  leads: Leads;
  conversations: Conversations;
  send: SendFn;
  now: () => number;
}

/** Counts a message against its user's rate limit: undefined when under it, else the notice ("" for none). */
export type Admit = () => Promise<string | undefined>;

export interface HandoffFlow {
  /**
   * Handles operator messages and messages of paused chats; true when the message needs nothing else. `admit`
   * counts a user's message against the rate limit before it is forwarded: undefined when under it, else the
   * notice to send instead ("" for silence).
   */
  intercept(msg: InboundMessage, delivery: Delivery, admit: Admit): Promise<boolean>;
  /** Hands the chat to the role's operator; false when the role has none. `extra` turns are not saved yet. */
  start(
    msg: InboundMessage,
    delivery: Delivery,
    role: RoleSettings,
    reason: string,
    extra?: readonly Turn[],
  ): Promise<boolean>;
}

const BOT_COMMAND = /^\/bot(@\w+)?\s*$/i;
const DEFAULT_HANDOFF = handoffSchema.parse({});

export function createHandoffFlow(deps: HandoffFlowDeps): HandoffFlow {
  const { handoffs, send, now } = deps;
  const operators = [...deps.roles.values()].flatMap((r) => (r.operator ? [r.operator] : []));

  // The operator's chat, or another topic of its forum group (`<chat>/<thread>`): a command from any topic of the
  // group is the operator's (the exact chat first, when two roles name topics of one group).
  const group = (chatId: string) => chatId.split("/")[0];
  const operatorOf = (msg: InboundMessage): OperatorConfig | undefined => {
    if (msg.channel !== "telegram") return undefined;
    const mine = operators.filter((o) => o.agent === msg.agent);
    return mine.find((o) => o.chatId === msg.chatId) ?? mine.find((o) => group(o.chatId) === group(msg.chatId));
  };
  const resumedText = (agent: string) => (deps.roleOfAgent(agent)?.handoff ?? DEFAULT_HANDOFF).resumedText;
  // The role's operator as configured now: a chat paused before the operator chat moved follows it.
  const operatorFor = (h: Handoff) => deps.roles.get(h.role)?.operator ?? h.operator;

  async function operatorMessage(msg: InboundMessage, delivery: Delivery, operator: OperatorConfig) {
    // The roles of every operator of the agent in this group (two roles may name topics of one forum): a
    // command from any topic reaches their handoffs.
    const inGroup = [...deps.roles.values()].flatMap((r) =>
      r.operator?.agent === operator.agent && group(r.operator.chatId) === group(msg.chatId) ? [r.name] : []
    );
    // Answered where the command was written (in a forum, its topic).
    const ack = (text: string) =>
      send(delivery, { agent: operator.agent, chatId: msg.chatId }, text, `${delivery.id}:operator`);
    const cmd = parseOperatorCommand(msg.text);
    if (cmd.kind === "help") return ack(cmd.problem ? `${cmd.problem}\n\n${OPERATOR_HELP}` : OPERATOR_HELP);
    if (cmd.kind === "list") return ack(listNotice(await handoffs.paused(inGroup), now()));
    const h = await handoffs.find(cmd.ref, inGroup);
    if (!h) return ack(`No handoff "${cmd.ref}" for this chat. /list shows the chats waiting for you.`);
    const user = { agent: h.agent, chatId: h.chatId };
    if (cmd.kind === "reply") {
      await send(delivery, user, cmd.text, `${delivery.id}:relay`, "answer");
      await deps.client.batch([turnStatement(h.chat, "assistant", cmd.text, now())], "write");
      // Also the answer that ends the channel's typing indicator in the operator chat.
      return ack(`Sent to #${h.id} ${h.chat}${h.state === "paused" ? "" : " (the bot is answering this chat again)"}.`);
    }
    if (cmd.kind === "close") await deps.leads.advance(h.chat, "closed", "closed by the operator");
    if (await handoffs.resume(h.chat)) {
      await send(delivery, user, resumedText(h.agent), `${delivery.id}:resumed`);
      return ack(`#${h.id} ${h.chat} is back with the bot${cmd.kind === "close" ? "; lead closed" : ""}.`);
    }
    return ack(
      cmd.kind === "close" ? `#${h.id} ${h.chat}: lead closed.` : `#${h.id} ${h.chat} is not paused.`,
    );
  }

  return {
    async intercept(msg, delivery, admit) {
      const operator = operatorOf(msg);
      if (operator) {
        await operatorMessage(msg, delivery, operator);
        return true;
      }
      if (operators.length === 0) return false;
      const chat = chatKey(msg.agent, msg.chatId);
      const h = await handoffs.get(chat);
      // Paused by this very message: a redelivery after a crash mid-handoff, answered normally again.
      if (!h || h.state !== "paused" || h.startedBy === delivery.id) return false;
      if (BOT_COMMAND.test(msg.text)) {
        if (await handoffs.resume(chat)) {
          await send(
            delivery,
            operatorFor(h),
            `#${h.id} ${h.chat}: the user gave the chat back to the bot.`,
            `${delivery.id}:operator`,
          );
        }
        await send(
          delivery,
          { agent: msg.agent, chatId: msg.chatId },
          resumedText(msg.agent),
          `${delivery.id}:resumed`,
        );
        return true;
      }
      // A paused chat is a user's like any other: a flood does not reach the operator.
      const refused = await admit();
      if (refused !== undefined) {
        if (refused !== "") await send(delivery, { agent: msg.agent, chatId: msg.chatId }, refused, `${delivery.id}:limit`);
        return true;
      }
      const notice = forwardNotice(h, msg.text, msg.userName);
      await send(delivery, operatorFor(h), notice, `${delivery.id}:forward`);
      await deps.client.batch([turnStatement(chat, "user", msg.text, msg.receivedAt)], "write");
      return true;
    },

    async start(msg, delivery, role, reason, extra = []) {
      if (!role.operator) return false;
      const chat = chatKey(msg.agent, msg.chatId);
      const current = await handoffs.get(chat);
      // Already paused by an earlier message: nothing to forward again. Paused by this very message (a redelivery
      // after a crash before the notice went out): send the notice again — its reply key makes it once.
      if (current?.state === "paused" && current.startedBy !== delivery.id) return true;
      const earlier = await deps.conversations.recent(
        chat,
        Number.MAX_SAFE_INTEGER,
        role.handoff.forwardTurns,
      );
      const turns = [...earlier, ...extra].slice(-Math.max(role.handoff.forwardTurns, extra.length));
      const { handoff } = await handoffs.pause({
        chat,
        agent: msg.agent,
        chatId: msg.chatId,
        role: role.name,
        reason,
        operator: role.operator,
        startedBy: delivery.id,
      });
      await send(delivery, role.operator, handoffNotice(handoff, turns), `${delivery.id}:handoff`);
      // A lead is made after its turn's answer: one handed over before (on its first message) is made here.
      if (role.kind === "leads") await deps.leads.ensure(chat, msg.agent, msg.chatId, role.name);
      await deps.leads.advance(chat, "handed_off", reason);
      return true;
    },
  };
}
