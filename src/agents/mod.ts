/**
 * The registry of agent kinds: a static table of literal dynamic imports, so `deno compile` includes every kind
 * while a running agent loads only its own kind's code (a Telegram agent never loads the router, the orchestrator
 * never loads grammY): ~10 MB less resident memory per agent.
 *
 * @module
 */
import type { AgentKind } from "../config.ts";
import type { AgentDefinition } from "./define.ts";

export { defineAgent } from "./define.ts";
export type { AgentDefinition, AgentDeps, AgentInstance, CheckResult } from "./define.ts";
export { runAgent } from "./runtime.ts";
export type { RunningAgent, RunAgentOptions } from "./runtime.ts";

/** Agent kinds built into this binary. Kinds declared in the config schema but missing here cannot start. */
export const agentKinds: Partial<{ [K in AgentKind]: () => Promise<AgentDefinition<K>> }> = {
  analytics: () => import("./analytics.ts").then((m) => m.analytics),
  orchestrator: () => import("./orchestrator/agent.ts").then((m) => m.orchestrator),
  telegram: () => import("./telegram/mod.ts").then((m) => m.telegram),
  whatsapp: () => import("./whatsapp/mod.ts").then((m) => m.whatsapp),
  webchat: () => import("./webchat/mod.ts").then((m) => m.webchat),
};
