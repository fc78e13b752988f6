/**
 * The operator's side of a handoff, in the operator's Telegram chat. Every message there is an operator
 * command (never answered by the bot):
 *
 *   /reply <ref> <text>   send <text> to the user of handoff <ref>
 *   /resume <ref>         give the chat back to the bot
 *   /close <ref>          close the lead and give the chat back to the bot
 *   /list                 the chats waiting for a person
 *
 * <ref> is the handoff number shown in each forwarded message (`#12` or `12`) or the chat key (`agent:chatId`), which
 * also reaches a lead's chat never handed off (the qualified lead's notice names it).
 *
 * @module
 */
import type { Turn } from "../conversation.ts";
import type { Handoff } from "./handoffs.ts";

export type OperatorCommand =
  | { kind: "reply"; ref: string; text: string }
  | { kind: "resume"; ref: string }
  | { kind: "close"; ref: string }
  | { kind: "list" }
  | { kind: "help"; problem?: string };

export const OPERATOR_HELP = [
  "Operator commands:",
  "/reply <#> <text> - answer the user",
  "/resume <#> - give the chat back to the bot",
  "/close <#> - close the lead and give the chat back to the bot",
  "/list - chats waiting for a person",
].join("\n");

/**
 * Parses an operator message.
 *
 * @example
 * parseOperatorCommand("/reply #3 Hello, this is Ana") // { kind: "reply", ref: "3", text: "Hello, this is Ana" }
 */
export function parseOperatorCommand(text: string): OperatorCommand {
  const m = /^\/([a-z]+)(?:@\w+)?(?:\s+(\S+))?(?:\s+([\s\S]*))?$/i.exec(text.trim());
  if (!m) return { kind: "help" };
  const name = m[1]!.toLowerCase();
  const ref = m[2]?.replace(/^#/, "");
  const rest = m[3]?.trim() ?? "";
  if (name === "list") return { kind: "list" };
  if (name !== "reply" && name !== "resume" && name !== "close") return { kind: "help" };
  if (!ref) return { kind: "help", problem: `/${name} needs a handoff number, e.g. /${name} 3` };
  if (name === "reply") {
    return rest === ""
      ? { kind: "help", problem: "/reply needs a text: /reply 3 Hello!" }
      : { kind: "reply", ref, text: rest };
  }
  return { kind: name, ref };
}

// Cut between code points: half of an emoji's surrogate pair is text Telegram refuses, and the notice would be lost.
const clip = (s: string, n: number) => {
  const chars = [...s];
  return chars.length > n ? `${chars.slice(0, n - 1).join("")}…` : s;
};

/** The message that hands a chat to the operator: who, why, the recent conversation, how to answer. */
export function handoffNotice(h: Handoff, turns: readonly Turn[]): string {
  // The last turn whole (as a message forwarded while paused; the egress splits a long one): often the question the
  // handoff is about.
  const lines = turns.map((t, i) => {
    const text = t.text.replace(/\s+/g, " ");
    return `${t.role === "user" ? "User" : "Bot"}: ${i === turns.length - 1 ? text : clip(text, 500)}`;
  });
  return [
    `Handoff #${h.id} from ${h.chat} (role ${h.role}): ${h.reason}.`,
    ...(lines.length ? ["Recent conversation:", ...lines] : ["(no earlier conversation)"]),
    `Answer: /reply ${h.id} <text> · give back to the bot: /resume ${h.id}`,
  ].join("\n");
}

/** A user's message while their chat is paused, whole: the egress splits a long one (its end is often the point). */
export function forwardNotice(h: Handoff, text: string, userName: string | undefined): string {
  return `#${h.id} ${h.chat}${userName ? ` (${userName})` : ""}: ${text}\n(/reply ${h.id} <text> · /resume ${h.id})`;
}

export function listNotice(paused: readonly Handoff[], now: number): string {
  if (paused.length === 0) return "No chats are waiting for a person.";
  return [
    "Waiting for a person:",
    ...paused.map((h) =>
      `#${h.id} ${h.chat} (role ${h.role}, ${Math.round((now - h.since) / 60_000)} min): ${h.reason}`
    ),
  ].join("\n");
}
