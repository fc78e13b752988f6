/**
 * Each role's settings as the role logic uses them: the composed system prompt, the leak check over the
 * configured instructions, and defaults filled in. Also checks, at orchestrator start, that every operator
 * is reachable through a configured telegram agent.
 *
 * @module
 */
import { builtInDefaultRole, type Config, DEFAULT_ROLE_NAME } from "../../../config.ts";
import {
  type HandoffConfig,
  type LeadsConfig,
  leadsSchema,
  type OperatorConfig,
  type Product,
} from "./config.ts";
import { createLeakCheck, type LeakCheck } from "./leak.ts";
import { composeSystemPrompt, hygieneClause } from "./prompt.ts";

export interface RoleSettings {
  name: string;
  kind: "support" | "leads" | "sales";
  /** What the model sees: configured prompt + catalogue / lead fields / handoff marker + hygiene clause. */
  systemPrompt: string;
  operator: OperatorConfig | undefined;
  handoff: HandoffConfig;
  /** Set for kind leads (defaults filled in). */
  leads: LeadsConfig | undefined;
  catalogue: readonly Product[];
  allowedLinkHosts: readonly string[];
  refusalText: string;
  catalogueReplyText: string;
  leaks: LeakCheck;
}

export function resolveRoles(config: Config): Map<string, RoleSettings> {
  const out = new Map<string, RoleSettings>();
  // The built-in default role too: an agent without a role gets the same reply checks (F2).
  for (const [name, role] of Object.entries({ [DEFAULT_ROLE_NAME]: builtInDefaultRole, ...config.roles })) {
    const catalogue = role.catalogue ?? [];
    out.set(name, {
      name,
      kind: role.kind,
      systemPrompt: composeSystemPrompt({
        kind: role.kind,
        systemPrompt: role.systemPrompt,
        allowedLinkHosts: role.allowedLinkHosts,
        catalogue,
        handoffMarker: role.operator ? role.handoff.marker : undefined,
      }),
      operator: role.operator,
      handoff: role.handoff,
      leads: role.kind === "leads" ? role.leads ?? leadsSchema.parse({}) : undefined,
      catalogue,
      allowedLinkHosts: role.allowedLinkHosts,
      refusalText: role.refusalText,
      catalogueReplyText: role.catalogueReplyText,
      leaks: createLeakCheck([role.systemPrompt, hygieneClause(role.allowedLinkHosts)]),
    });
  }
  return out;
}

/** Throws when a role's operator is not reachable: its agent must be a configured telegram agent. */
export function checkOperators(config: Config): void {
  for (const [name, role] of Object.entries(config.roles)) {
    if (!role.operator) continue;
    const agent = config.agents.find((a) => a.name === role.operator?.agent);
    if (agent?.kind !== "telegram") {
      throw new Error(
        `roles.${name}.operator.agent: "${role.operator.agent}" is ${
          agent ? `not a telegram agent (kind ${agent.kind})` : "not a configured agent"
        }; name a telegram agent`,
      );
    }
  }
}
