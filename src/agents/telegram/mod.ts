/**
 * The `telegram` agent kind: a Telegram bot per configured agent (several bots per VM), built on grammY's Bot API
 * client. See agent.ts for the wiring, webhook.ts and poller.ts for ingress, send.ts for egress.
 *
 * @module
 */
import { defineAgent } from "../define.ts";
import { createTelegramAgent } from "./agent.ts";

export { createTelegramAgent, type TelegramAgentConfig, type TelegramAgentOptions } from "./agent.ts";

export const telegram = defineAgent({
  kind: "telegram",
  summary: "Telegram bot: webhook or long polling in, paced plain-text replies out",
  create: (deps, agent) => createTelegramAgent(deps, agent),
});
