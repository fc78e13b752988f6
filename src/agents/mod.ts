/**
 * The static registry of agent kinds (a static table, so `deno compile` includes every kind).
 *
 * @module
 */
import type { AgentKind } from "../config.ts";
import { analytics } from "./analytics.ts";
import type { AgentDefinition } from "./define.ts";
import { orchestrator } from "./orchestrator/agent.ts";
import { telegram } from "./telegram/mod.ts";
import { webchat } from "./webchat/mod.ts";
import { whatsapp } from "./whatsapp/mod.ts";

export { defineAgent } from "./define.ts";
export type { AgentDefinition, AgentDeps, AgentInstance, CheckResult } from "./define.ts";
export { runAgent } from "./runtime.ts";
export type { RunningAgent, RunAgentOptions } from "./runtime.ts";

/** Agent kinds built into this binary. Kinds declared in the config schema but missing here cannot start. */
export const agentKinds: Partial<{ [K in AgentKind]: AgentDefinition<K> }> = {
  analytics,
  orchestrator,
  telegram,
  whatsapp,
  webchat,
};
