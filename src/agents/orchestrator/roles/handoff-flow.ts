/**
 * Human handoff: pausing a chat (the user's /human or the model's marker) forwards the recent conversation to
 * the operator's Telegram chat; while paused, the user's messages are forwarded there (no bot answer, no model
 * call); the operator answers with commands (operator.ts); `/resume` from the operator or `/bot` from the user
 * gives the chat back to the bot. Messages that are forwarded or relayed are saved as conversation turns, so the
 * model knows what was said when it takes over again. A paused chat is the operator's of its agent's role as
 * configured now (whatever role it was handed off under); a role without an operator now gives it back to the bot.
 *
 * @module
 */
import { chatKey, type InboundMessage } from "../../../bus/envelopes.ts";
import type { Delivery } from "../../../bus/mod.ts";
import type { Config } from "../../../config.ts";
import type { Logger } from "../../../log.ts";
import type { Client } from "../../../store/mod.ts";
import { blockedContact, type Contact, getContact } from "../../channel/contacts.ts";
import { movedChat } from "../../telegram/moves.ts";
import { windowState } from "../../whatsapp/window.ts";
import type { Conversations, Turn } from "../conversation.ts";
import { handoffSchema, type OperatorConfig } from "./config.ts";
import type { Handoffs } from "./handoffs.ts";
import type { Leads } from "./leads.ts";
import { forwardNotice, handoffNotice, listNotice, OPERATOR_HELP, parseOperatorCommand } from "./operator.ts";
import type { RoleSettings } from "./settings.ts";
import { type SendFn, turnStatement } from "./send.ts";

export interface HandoffFlowDeps {
  client: Client;
  roles: ReadonlyMap<string, RoleSettings>;
  /** The configured agents: whose chats an operator has, which are WhatsApp's. */
  agents: Config["agents"];
  /**
   * The role of each channel agent as configured now: a paused chat is its operator's, whatever role or operator
   * the chat was handed off under.
   */
  roleOfAgent: (agent: string) => RoleSettings | undefined;
  handoffs: Handoffs;
  leads: Leads;
  conversations: Conversations;
  send: SendFn;
  /** What the user is told when a person takes over (`conversation.handoffText`). */
  handoffText: string;
  log: Logger;
  now: () => number;
}

/** A chat an operator command reaches: `name` is how the acks call it; `bot` notes that the bot answers it. */
interface Target {
  agent: string;
  chatId: string;
  chat: string;
  name: string;
  bot: string;
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
/** The reason of a handoff the model's marker asked for. */
export const MARKER_REASON = "the assistant asked for a person";
const DEFAULT_HANDOFF = handoffSchema.parse({});
/** How old a turn a handoff notice forwards may be (see `start`). */
const FORWARD_MAX_AGE_MS = 3_600_000;

export function createHandoffFlow(deps: HandoffFlowDeps): HandoffFlow {
  const { handoffs, send, now } = deps;
  const operators = [...deps.roles.values()].flatMap((r) => (r.operator ? [r.operator] : []));

  const warned = new Set<string>();
  // The operator's chat as it is now: a group Telegram upgraded to a supergroup goes on there (its messages carry
  // the supergroup's id) until the config names the supergroup.
  const upToDate = async (o: OperatorConfig): Promise<OperatorConfig> => {
    const to = await movedChat(deps.client, o.chatId);
    if (to === undefined) return o;
    if (!warned.has(o.chatId)) {
      warned.add(o.chatId);
      deps.log.warn("an operator's Telegram group is now a supergroup: set operator.chatId to the supergroup's id", {
        group: o.chatId,
        supergroup: to,
      });
    }
    return { ...o, chatId: to };
  };
  // The operator's chat, or another topic of its forum group (`<chat>/<thread>`): a command from any topic of the
  // group is the operator's (the exact chat first, when two roles name topics of one group).
  const group = (chatId: string) => chatId.split("/")[0];
  const operatorOf = async (msg: InboundMessage): Promise<OperatorConfig | undefined> => {
    if (msg.channel !== "telegram") return undefined;
    const match = (list: OperatorConfig[]) =>
      list.find((o) => o.chatId === msg.chatId) ?? list.find((o) => group(o.chatId) === group(msg.chatId));
    const mine = operators.filter((o) => o.agent === msg.agent);
    // Only a group's message (a negative id) may come from a supergroup it became: a private chat's, every customer's
    // message on the operator's agent, reads no moves.
    return match(mine) ?? (msg.chatId.startsWith("-") ? match(await Promise.all(mine.map(upToDate))) : undefined);
  };
  const resumedText = (agent: string) => (deps.roleOfAgent(agent)?.handoff ?? DEFAULT_HANDOFF).resumedText;
  // The operator of the agent's role as configured now; undefined when it has none.
  const operatorFor = async (agent: string) => {
    const o = deps.roleOfAgent(agent)?.operator;
    return o && (await upToDate(o));
  };
  // WhatsApp takes no free-form message 24 hours after the user's last one (whatsapp/window.ts).
  const windowClosed = (agent: string, contact: Contact | undefined) =>
    deps.agents.find((a) => a.name === agent)?.kind === "whatsapp" &&
    windowState(contact?.lastInboundAt, now()).state !== "open";
  // What a command's <ref> reaches: a handoff by number or chat key, or by chat key the chat of a lead never handed
  // off (the qualified lead's notice names it so).
  const targetOf = async (ref: string, agents: readonly string[]): Promise<Target | undefined> => {
    const h = await handoffs.find(ref, agents);
    if (h) {
      const bot = h.state === "paused" ? "" : " (the bot is answering this chat again)";
      return { agent: h.agent, chatId: h.chatId, chat: h.chat, name: `#${h.id} ${h.chat}`, bot };
    }
    const lead = await deps.leads.get(ref);
    if (!lead || !agents.includes(lead.agent)) return undefined;
    const bot = " (the bot is answering this chat)";
    return { agent: lead.agent, chatId: lead.chatId, chat: lead.chat, name: lead.chat, bot };
  };

  async function operatorMessage(msg: InboundMessage, delivery: Delivery, operator: OperatorConfig) {
    // The agents whose role's operator is in this group (two roles may name topics of one forum): a command from
    // any topic reaches their handoffs.
    const inGroup: string[] = [];
    for (const { name } of deps.agents) {
      const o = await operatorFor(name);
      if (o?.agent === operator.agent && group(o.chatId) === group(msg.chatId)) inGroup.push(name);
    }
    // Answered where the command was written (in a forum, its topic).
    const ack = (text: string) =>
      send(delivery, { agent: operator.agent, chatId: msg.chatId }, text, `${delivery.id}:operator`);
    const cmd = parseOperatorCommand(msg.text);
    if (cmd.kind === "help") return ack(cmd.problem ? `${cmd.problem}\n\n${OPERATOR_HELP}` : OPERATOR_HELP);
    if (cmd.kind === "list") return ack(listNotice(await handoffs.paused(inGroup), now()));
    const t = await targetOf(cmd.ref, inGroup);
    if (!t) return ack(`No handoff "${cmd.ref}" for this chat. /list shows the chats waiting for you.`);
    const user = { agent: t.agent, chatId: t.chatId };
    if (cmd.kind === "reply") {
      // The Telegram and WhatsApp egress send nothing to a user who blocked the bot (in a private chat's topic too):
      // not "Sent", nor in the history.
      if (await blockedContact(deps.client, t.agent, t.chatId)) {
        return ack(`Not delivered to ${t.name}: the user blocked the bot.`);
      }
      const contact = await getContact(deps.client, t.agent, t.chatId);
      // Published all the same: the egress sends the approved template instead, if one is configured.
      await send(delivery, user, cmd.text, `${delivery.id}:relay`, "answer");
      if (windowClosed(t.agent, contact)) {
        return ack(
          `Not delivered to ${t.name}: the user last wrote more than 24 hours ago, and WhatsApp takes ` +
            "no free-form message until they write again.",
        );
      }
      await deps.client.batch([turnStatement(t.chat, "assistant", cmd.text, now(), delivery.id)], "write");
      // The ack also ends the channel's typing indicator in the operator chat. A /reply written as a photo's caption:
      // the user gets the caption alone.
      if (msg.attachment !== undefined) {
        return ack(`Sent the text only to ${t.name}: photos and files are not relayed${t.bot}.`);
      }
      return ack(`Sent to ${t.name}${t.bot}.`);
    }
    if (cmd.kind === "close") await deps.leads.advance(t.chat, "closed", "closed by the operator");
    // Read back, not advance()'s result: a redelivery finds it closed already. A support chat has no lead to close.
    const closed = cmd.kind === "close" && (await deps.leads.get(t.chat))?.stage === "closed";
    // True again on a redelivery after a crash past this write: the user and the operator are told (once: reply keys).
    if (await handoffs.resume(t.chat, delivery.id)) {
      await send(delivery, user, resumedText(t.agent), `${delivery.id}:resumed`);
      return ack(`${t.name} is back with the bot${closed ? "; lead closed" : ""}.`);
    }
    return ack(closed ? `${t.name}: lead closed.` : `${t.name} is not paused.`);
  }

  async function start(
    msg: InboundMessage,
    delivery: Delivery,
    role: RoleSettings,
    reason: string,
    extra: readonly Turn[] = [],
  ): Promise<boolean> {
    if (!role.operator) return false;
    const chat = chatKey(msg.agent, msg.chatId);
    const current = await handoffs.get(chat);
    // Already paused by an earlier message: nothing to forward again. Paused by this very message (a redelivery
    // after a crash before the notice went out): send the notice again — its reply key makes it once.
    if (current?.state === "paused" && current.startedBy !== delivery.id) return true;
    // Only the last hour's turns: the notice is a new bus message, its text redacted `retentionDays` after it is
    // published, and an older turn's words would outlive the turn's own deletion by its age (both passes are hourly).
    const since = now() - FORWARD_MAX_AGE_MS;
    const earlier = (await deps.conversations.recent(chat, Number.MAX_SAFE_INTEGER, role.handoff.forwardTurns))
      .filter((t) => t.at >= since);
    const turns = [...earlier, ...extra].slice(-Math.max(role.handoff.forwardTurns, extra.length));
    const operator = await upToDate(role.operator);
    const { handoff } = await handoffs.pause({
      chat,
      agent: msg.agent,
      chatId: msg.chatId,
      role: role.name,
      reason,
      operator,
      startedBy: delivery.id,
    });
    await send(delivery, operator, handoffNotice(handoff, turns), `${delivery.id}:handoff`);
    // A lead is made after its turn's answer: one handed over before (on its first message) is made here.
    if (role.kind === "leads") await deps.leads.ensure(chat, msg.agent, msg.chatId, role.name);
    await deps.leads.advance(chat, "handed_off", reason);
    return true;
  }

  return {
    async intercept(msg, delivery, admit) {
      const operator = await operatorOf(msg);
      if (operator) {
        await operatorMessage(msg, delivery, operator);
        return true;
      }
      if (operators.length === 0) return false;
      const chat = chatKey(msg.agent, msg.chatId);
      const user = { agent: msg.agent, chatId: msg.chatId };
      const h = await handoffs.get(chat);
      // The user's /bot, paused or not (the operator resumed the chat a moment before, or the user sent it twice):
      // the bot has the chat; never a question for the model, nor another handoff.
      // Counts the message against the user's rate limit; true (the limit's notice sent, or nothing) when refused.
      const limited = async () => {
        const refused = await admit();
        if (refused !== undefined && refused !== "") await send(delivery, user, refused, `${delivery.id}:limit`);
        return refused !== undefined;
      };
      if (BOT_COMMAND.test(msg.text)) {
        if (await limited()) return true;
        // A redelivery of the /bot that resumed the chat tells the operator still (once: its reply key).
        if (h && (await handoffs.resume(chat, delivery.id))) {
          const to = await operatorFor(msg.agent);
          const notice = `#${h.id} ${h.chat}: the user gave the chat back to the bot.`;
          if (to) await send(delivery, to, notice, `${delivery.id}:operator`);
        }
        await send(delivery, user, resumedText(msg.agent), `${delivery.id}:resumed`);
        return true;
      }
      if (h?.state !== "paused") return false;
      const role = deps.roleOfAgent(msg.agent);
      const to = role?.operator && (await upToDate(role.operator));
      // The chat's role has no operator now (the config removed it): nobody would read the forwards; the bot answers.
      if (!role || !to) {
        await handoffs.resume(chat, delivery.id);
        return false;
      }
      if (h.startedBy === delivery.id) {
        // Paused by this very message: a redelivery, its turn's reply not committed. /human and a question answered
        // without a model are answered as before. The model is not asked again after its marker (it may answer this
        // time, in a chat a person has): the notice goes out (once: its reply key) and the user is told.
        if (h.reason !== MARKER_REASON) return false;
        const told: Turn[] = [
          { role: "user", text: msg.text, at: msg.receivedAt },
          { role: "assistant", text: deps.handoffText, at: now() },
        ];
        await start(msg, delivery, role, MARKER_REASON, told);
        await send(delivery, user, deps.handoffText, `${delivery.id}:answer`, "answer");
        await deps.client.batch(told.map((t) => turnStatement(chat, t.role, t.text, t.at, delivery.id)), "write");
        return true;
      }
      // A paused chat is a user's like any other: a flood does not reach the operator.
      if (await limited()) return true;
      // A caption says which media came with it: the operator can ask for it another way.
      const text = msg.attachment !== undefined ? `[${msg.attachment}] ${msg.text}` : msg.text;
      await send(delivery, to, forwardNotice(h, text, msg.userName), `${delivery.id}:forward`);
      await deps.client.batch([turnStatement(chat, "user", text, msg.receivedAt, delivery.id)], "write");
      return true;
    },
    start,
  };
}
