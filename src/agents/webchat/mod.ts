/**
 * The `webchat` agent kind: a chat page served by the agent itself, for trying aideazz without any platform
 * token and for operators' testing. See agent.ts, routes.ts and page.ts.
 *
 * @module
 */
import { defineAgent } from "../define.ts";
import { createWebchatAgent } from "./agent.ts";

export { createWebchatAgent, type WebchatAgentConfig, webchatKey } from "./agent.ts";

export const webchat = defineAgent({
  kind: "webchat",
  summary: "web chat page: talk to the configured role in a browser",
  create: (deps, agent) => createWebchatAgent(deps, agent),
});
