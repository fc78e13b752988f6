/**
 * Each role's settings as the role logic uses them: the composed system prompt, the leak check over the
 * configured instructions, and defaults filled in. That every operator is reachable through a configured telegram
 * agent is the config's own rule (config.ts), so `config check` reports it too.
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
