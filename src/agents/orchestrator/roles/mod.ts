/**
 * Role logic of the orchestrator (issue 5, "Roles"): lead qualification (extraction, scoring, stages, operator
 * notice, export), the sales price guard, human handoff through the operator's Telegram chat, and prompt-
 * injection hygiene (instruction-leak refusal, link allow-list). The turn handler calls `RoleHooks`.
 *
 * @module
 */
export { createRoleHooks, type ReviewHookInput, type RoleHooks, type RoleHooksDeps } from "./hooks.ts";
export { rolesMigration } from "./schema.ts";
export {
  createLeads,
  isLeadStage,
  type Lead,
  LEAD_STAGES,
  type LeadFilter,
  type Leads,
  type LeadStage,
} from "./leads.ts";
export { leadsToCsv, leadsToJson } from "./export.ts";
export { filterLinks, findLinks, hostAllowed, hostOf, LINK_REMOVED } from "./links.ts";
export { createLeakCheck } from "./leak.ts";
export { findPrices, unknownPrices } from "./prices.ts";
export { scoreLead } from "./score.ts";
export { parseExtraction } from "./extract.ts";
export { parseOperatorCommand } from "./operator.ts";
