/**
 * What a channel needs from the agent's role: only the greeting it sends for /start (the rest of the role —
 * prompt, FAQ, leads, catalogue — belongs to the orchestrator).
 *
 * @module
 */
import type { Config } from "../../config.ts";

export const DEFAULT_GREETING = "Hi! How can I help?";

export function greetingOf(config: Config, role: string | undefined): string {
  return (role === undefined ? undefined : config.roles[role]?.greeting) ?? DEFAULT_GREETING;
}
