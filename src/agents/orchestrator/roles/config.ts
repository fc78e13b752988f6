/**
 * Role settings in the config file beyond the prompt and FAQ: the operator's Telegram chat (handoffs and lead
 * notifications), human handoff, lead qualification and scoring, the sales catalogue, and the link allow-list.
 *
 * @module
 */
import { z } from "zod";

export const LEAD_FIELDS = ["name", "company", "need", "budget", "timeline", "contact"] as const;
export type LeadField = (typeof LEAD_FIELDS)[number];

export const operatorSchema = z.strictObject({
  agent: z.string().min(1).describe(
    "Name of the telegram agent that reaches the operator (its bot writes to the operator)",
  ),
  chatId: z.string().regex(
    /^-?\d+(?:\/\d+)?$/,
    "a Telegram chat id (digits, negative for groups), or <chat id>/<topic id> for one topic of a forum group",
  ).describe(
    "Telegram chat id of the operator (a person or a group; <chat id>/<topic id> sends to one forum topic); its messages are operator commands (a forum group's: from any topic)",
  ),
}).describe("The operator's Telegram chat: receives handoffs and qualified leads, and answers with /reply");

export const handoffSchema = z.strictObject({
  marker: z.string().min(1).default("[HANDOFF]")
    .describe(
      "When a model reply contains this marker, it is removed and the chat is handed to the operator",
    ),
  forwardTurns: z.number().int().min(0).max(50).default(10).describe(
    "Recent turns forwarded to the operator",
  ),
  resumedText: z.string().min(1).default("You're chatting with our assistant again.")
    .describe("Sent to the user when the bot resumes (operator /resume or the user's /bot)"),
}).describe("Human handoff: /human, or the model's marker, pauses the bot for the chat");

const weightsSchema = z.strictObject({
  name: z.number().min(0).default(10),
  company: z.number().min(0).default(15),
  need: z.number().min(0).default(20),
  budget: z.number().min(0).default(20),
  timeline: z.number().min(0).default(15),
  contact: z.number().min(0).default(20),
});

export const leadsSchema = z.strictObject({
  threshold: z.number().min(0).default(60).describe(
    "Score at which a lead is qualified (operator notified once)",
  ),
  extractEvery: z.number().int().min(1).default(1).describe(
    "Run the structured extraction after every Nth turn",
  ),
  extractContextTokens: z.number().int().positive().default(1_500).describe(
    "Conversation the extraction sees",
  ),
  weights: weightsSchema.prefault({}).describe("Points per collected field (see README: Roles)"),
  minBudget: z.number().min(0).default(0)
    .describe(
      "A stated budget figure at or above this scores full points; below it a quarter; no figure half",
    ),
  urgentDays: z.number().int().min(0).default(90)
    .describe("A timeline within this many days scores full points; later or vague half"),
}).superRefine((leads, ctx) => {
  // A score is at most the sum of the weights (every field at full marks): above it no lead ever qualifies.
  const most = Object.values(leads.weights).reduce((a, b) => a + b, 0);
  if (leads.threshold > most) {
    const message = `above ${most}, the most leads.weights can score, so no lead would ever qualify; ` +
      "lower it or raise the weights";
    ctx.addIssue({ code: "custom", path: ["threshold"], message });
  }
}).describe("Lead qualification settings (kind leads)");

export const productSchema = z.strictObject({
  name: z.string().min(1),
  price: z.number().min(0).describe("The only price the bot may quote for this product"),
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as "USD"'),
  description: z.string().default(""),
});

const hostName = z.string().regex(
  /^[a-z0-9-]+(\.[a-z0-9-]+)+$/,
  'a lowercase host name such as "example.com"',
);

/** The parts of a role the orchestrator's role logic reads (src/config.ts adds them to `roleSchema`). */
export const roleExtensions = {
  operator: operatorSchema.optional(),
  handoff: handoffSchema.prefault({}),
  leads: leadsSchema.optional(),
  catalogue: z.array(productSchema).optional().describe(
    "Products and prices (kind sales): grounding and the price guard",
  ),
  allowedLinkHosts: z.array(hostName).default([])
    .describe(
      "Hosts (and their subdomains) links in replies may point to; other links are removed. Default: none",
    ),
  refusalText: z.string().min(1).default(
    "Sorry, I can't help with that. Is there anything else I can do for you?",
  )
    .describe("Sent instead of a model reply that would reveal the role's instructions"),
  catalogueReplyText: z.string().min(1).default("Here are the prices from our catalogue:")
    .describe(
      "Heads the deterministic catalogue reply sent when a model keeps quoting prices not in the catalogue",
    ),
};

/** Kind-specific fields on the wrong kind are a mistake worth naming. */
export function checkRoleKind(
  role: { kind: string; leads?: unknown; catalogue?: unknown },
  ctx: { addIssue(issue: { code: "custom"; path: string[]; message: string }): void },
): void {
  if (role.leads !== undefined && role.kind !== "leads") {
    ctx.addIssue({
      code: "custom",
      path: ["leads"],
      message: `only for kind "leads" (this role is "${role.kind}")`,
    });
  }
  if (role.catalogue !== undefined && role.kind !== "sales") {
    ctx.addIssue({
      code: "custom",
      path: ["catalogue"],
      message: `only for kind "sales" (this role is "${role.kind}")`,
    });
  }
}

export type OperatorConfig = z.infer<typeof operatorSchema>;
export type HandoffConfig = z.infer<typeof handoffSchema>;
export type LeadsConfig = z.infer<typeof leadsSchema>;
export type Product = z.infer<typeof productSchema>;
