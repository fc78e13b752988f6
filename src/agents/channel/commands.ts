/**
 * Chat commands every channel understands. They travel as `kind: "command"` inbound messages so role logic
 * (support, leads, sales, handoff) decides what they do; `/start`'s greeting is the one thing a channel answers
 * by itself (it is the role's configured greeting, no model involved).
 *
 * @module
 */

export const COMMANDS = ["start", "help", "reset", "human"] as const;
export type Command = (typeof COMMANDS)[number];

export interface ParsedCommand {
  command: Command;
  /** The command normalized: `/reset` (a `@botname` suffix removed), then its arguments, if any. */
  text: string;
}

/** Recognizes `/start`, `/help`, `/reset`, `/human` (optionally `@botname`); other text is not a command. */
export function parseCommand(text: string): ParsedCommand | undefined {
  const m = /^\/([A-Za-z]+)(?:@[A-Za-z0-9_]+)?(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!m) return undefined;
  const name = m[1]!.toLowerCase();
  if (!(COMMANDS as readonly string[]).includes(name)) return undefined;
  const args = m[2]?.trim() ?? "";
  return { command: name as Command, text: args === "" ? `/${name}` : `/${name} ${args}` };
}
