/**
 * Router settings in the config file: providers, the chain of providers per turn class, classification rules,
 * retries, breakers, quotas and the budget. Optional sections get their defaults from `resolveRouterSettings`.
 *
 * @module
 */
import { z } from "zod";
import { envVarName, httpUrl } from "../config-types.ts";

export const TIERS = ["simple", "complex", "high-value"] as const;
export type Tier = (typeof TIERS)[number];

export const QUESTION_TYPES = ["none", "yes_no", "factual", "how", "why", "compare"] as const;
export type QuestionType = (typeof QUESTION_TYPES)[number];

/** The stages of a support or sales role's turn: the conversation's first turn or a later one (turn.ts). */
export const CHAT_STAGES = ["first", "ongoing"] as const;

/** The stages of a leads role's turn: always its lead's stage (LEAD_STAGES in roles/leads.ts), never first/ongoing. */
export const LEAD_TURN_STAGES = ["new", "engaged", "qualified", "handed_off", "closed"] as const;

/** Every stage a turn can carry. A rule on any other stage could never match. */
export const TURN_STAGES = [...CHAT_STAGES, ...LEAD_TURN_STAGES] as const;

const count = z.number().int().positive();

export const limitsSchema = z.strictObject({
  requestsPerMinute: count.optional().describe(
    "Requests per minute this provider and model allow (Groq free tier: e.g. 30)",
  ),
  requestsPerDay: count.optional().describe("Requests per day (Groq free tier: e.g. 1000 or 14400)"),
  tokensPerMinute: count.optional().describe("Tokens (input + max output) per minute"),
  tokensPerDay: count.optional().describe("Tokens (input + max output) per day"),
}).describe(
  "Proactive quota: the router stops sending before the provider answers 429; corrected from x-ratelimit-* headers",
);

export const providerSchema = z.strictObject({
  kind: z.enum(["groq", "anthropic", "llama-cpp", "openai-compatible"]).describe(
    "Wire protocol of the provider",
  ),
  baseUrl: httpUrl.optional().describe(
    "Base URL, e.g. http://127.0.0.1:8090/v1: required for llama-cpp and openai-compatible; groq and anthropic " +
      "default to their APIs' (https://api.groq.com/openai/v1, https://api.anthropic.com/v1)",
  ),
  model: z.string().min(1).describe("Model name sent to the provider"),
  apiKeyEnv: envVarName.optional().describe(
    "Environment variable holding the API key: required for groq and anthropic",
  ),
  timeoutMs: z.number().int().positive().optional().describe(
    "How long a call waits for this provider before aborting the HTTP request. Default 3000; llama-cpp 15000 (a " +
      "local model on a small VM takes seconds to read a prompt and write an answer). A streamed reply (progressive " +
      "replies): for its first text, then for each next chunk, so a slow but steady answer is read to the end " +
      "while router.deadlineMs bounds the whole. A call that does not stream shows no progress: for its whole answer",
  ),
  maxConcurrent: count.optional().describe(
    "Bulkhead: calls in flight to this provider at most (per process). Default 4; llama-cpp 1: llama-server's " +
      "slots share one KV cache of --ctx-size tokens, and prompts in flight together that overflow it fail " +
      '(500 "Context size has been exceeded"). Raise it with --ctx-size and --parallel',
  ),
  limits: limitsSchema.optional(),
}).superRefine((p, ctx) => {
  // groq and anthropic default to their public APIs (providers/groq.ts, providers/anthropic.ts).
  if (p.baseUrl === undefined && (p.kind === "llama-cpp" || p.kind === "openai-compatible")) {
    ctx.addIssue({ code: "custom", path: ["baseUrl"], message: `required for kind ${p.kind}: where the server listens` });
  }
  // Both APIs refuse a call without a key: the orchestrator would refuse to start (providers/mod.ts).
  if (p.apiKeyEnv === undefined && (p.kind === "groq" || p.kind === "anthropic")) {
    const message = `required for kind ${p.kind}: the environment variable holding its API key`;
    ctx.addIssue({ code: "custom", path: ["apiKeyEnv"], message });
  }
})
  // The rules above for the published JSON Schema, so an editor flags what the loader refuses.
  .meta({
    allOf: [
      {
        if: { properties: { kind: { enum: ["llama-cpp", "openai-compatible"] } } },
        then: { required: ["baseUrl"] },
      },
      { if: { properties: { kind: { enum: ["groq", "anthropic"] } } }, then: { required: ["apiKeyEnv"] } },
    ],
  });

export const priceSchema = z.strictObject({
  inputUsdPerMTok: z.number().nonnegative().describe("US dollars per million input tokens"),
  outputUsdPerMTok: z.number().nonnegative().describe("US dollars per million output tokens"),
});

export const budgetSchema = z.strictObject({
  dailyUsd: z.number().nonnegative().optional().describe("Spend cap per UTC day across priced models"),
  monthlyUsd: z.number().nonnegative().optional().describe(
    "Spend cap per UTC calendar month across priced models",
  ),
  lowFraction: z.number().min(0).max(1).default(0.2).describe(
    "When less than this share of a cap is left, priced providers serve only high-value turns",
  ),
  prices: z.record(z.string().min(1, "empty; name the model as its provider calls it"), priceSchema).default({}).describe(
    "Price per model name; a model without an entry costs $0 and is never blocked by the budget",
  ),
});

export const retrySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(10).default(3).describe(
    "Attempts per provider per turn, the first included",
  ),
  baseDelayMs: count.default(250).describe("First backoff step; doubles per attempt, full jitter"),
  maxDelayMs: count.default(5_000).describe(
    "Backoff cap (a longer Retry-After is honoured, but then the chain falls back)",
  ),
}).superRefine((r, ctx) => {
  // The cap would win from the first retry: a base above it silently means maxDelayMs.
  if (r.baseDelayMs > r.maxDelayMs) {
    const message = `above maxDelayMs (${r.maxDelayMs}); lower it or raise the cap`;
    ctx.addIssue({ code: "custom", path: ["baseDelayMs"], message });
  }
});

export const breakerSchema = z.strictObject({
  failureThreshold: count.default(5).describe("Failures within the window that open the breaker"),
  windowMs: count.default(60_000).describe("Sliding window in which failures are counted"),
  cooldownMs: count.default(30_000).describe("Time open before one half-open probe is let through"),
});

const stage = z.enum(TURN_STAGES, `no turn has this stage; use one of ${TURN_STAGES.join(", ")}`);

export const ruleSchema = z.strictObject({
  tier: z.enum(TIERS).describe("Class a turn gets when every condition of this rule holds"),
  minChars: z.number().int().nonnegative().optional().describe("Turn text at least this long"),
  maxChars: z.number().int().nonnegative().optional().describe("Turn text at most this long"),
  questionTypes: z.array(z.enum(QUESTION_TYPES)).optional().describe(
    "Detected question type is one of these",
  ),
  roles: z.array(z.string().min(1)).optional().describe(
    'Role name (as declared under roles, case-sensitive; "default" for channels without one, "api" for the ' +
      "OpenAI endpoint) or role kind (support, leads, sales) is one of these",
  ),
  leadQualified: z.boolean().optional().describe("The conversation's lead-qualified flag equals this"),
  stages: z.array(stage).optional().describe(
    "Turn stage is one of these: first or ongoing (the conversation's first turn or a later one), or for a leads " +
      "role its lead's stage (new, engaged, qualified, handed_off, closed)",
  ),
  keywords: z.array(z.string().min(1)).optional().describe(
    "Turn text contains one of these (case-insensitive)",
  ),
});

export const classifySchema = z.strictObject({
  rules: z.array(ruleSchema).describe("Tried in order; the first rule whose conditions all hold decides"),
  default: z.enum(TIERS).default("simple").describe("Class when no rule matches"),
});

const chainSchema = z.array(z.string()).describe("Provider names in the order they are tried");
// An empty tier is not a missing one: `??` keeps it, and every turn of its class would fail without a call.
const tierChainSchema = chainSchema.min(
  1,
  "empty: every turn of this class would fail; name its providers, or leave the tier out to use router.chain",
);

export const routerSchema = z.strictObject({
  deadlineMs: z.number().int().positive().default(20_000).describe("Overall deadline for one reply"),
  providers: z.record(
    z.string().regex(
      /^[a-z][a-z0-9-]*$/,
      "a provider name is lowercase letters a-z, digits and dashes, from a letter (e.g. groq-fast)",
    ),
    providerSchema,
  ).default({}).describe(
    "Model providers by name",
  ),
  chain: chainSchema.default([]).describe(
    "Provider names in the order they are tried, for a class without its own chain",
  ),
  tiers: z.strictObject({
    simple: tierChainSchema.optional(),
    complex: tierChainSchema.optional(),
    "high-value": tierChainSchema.optional(),
  }).optional().describe(
    "Chain per turn class, e.g. simple: [groq, local], high-value: [claude, groq, local]",
  ),
  classify: classifySchema.optional().describe("Rules that class each turn as simple, complex or high-value"),
  retry: retrySchema.optional().describe("Retries of retriable failures (429, 5xx, 529, timeouts)"),
  breaker: breakerSchema.optional().describe("Per-provider circuit breaker"),
  budget: budgetSchema.optional().describe("Spend caps and the price table"),
}).superRefine((router, ctx) => {
  const checkChain = (chain: readonly string[], path: (string | number)[]) => {
    chain.forEach((name, i) => {
      if (!Object.hasOwn(router.providers, name)) {
        ctx.addIssue({
          code: "custom",
          path: [...path, i],
          message: `unknown provider "${name}"; declare it under router.providers`,
        });
      } else if (chain.indexOf(name) !== i) {
        // A second listing would send a request the provider refused (or timed out on) to it again.
        ctx.addIssue({ code: "custom", path: [...path, i], message: `provider "${name}" is named twice` });
      }
    });
  };
  checkChain(router.chain, ["chain"]);
  for (const tier of TIERS) {
    const chain = router.tiers?.[tier];
    if (chain) checkChain(chain, ["tiers", tier]);
    // Tiers that leave a class without a chain (and no router.chain for it): every one of its turns would fail.
    else if (router.tiers && router.chain.length === 0 && Object.keys(router.providers).length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["tiers", tier],
        message: `no chain for ${tier} turns: give tiers.${tier}, or router.chain for every class without its own`,
      });
    }
  }
  // Providers that no chain names are never called: the orchestrator builds no router when every chain is empty.
  // A llama-cpp provider alone still serves the OpenAI endpoint's `local` model.
  const chains = TIERS.map((tier) => router.tiers?.[tier] ?? router.chain);
  const unused = Object.entries(router.providers).filter(([, p]) => p.kind !== "llama-cpp").map(([name]) => name);
  if (unused.length > 0 && chains.every((chain) => chain.length === 0)) {
    ctx.addIssue({
      code: "custom",
      path: ["chain"],
      message: `empty, so no turn calls ${unused.map((n) => `"${n}"`).join(", ")}; list the providers to try in order`,
    });
  }
  for (const [name, p] of Object.entries(router.providers)) {
    if (p.kind !== "anthropic") continue;
    const price = router.budget?.prices[p.model];
    if (!price) {
      ctx.addIssue({
        code: "custom",
        path: ["providers", name, "model"],
        message:
          `no price for model "${p.model}"; add it under router.budget.prices so spend can be computed`,
      });
    } else if (price.inputUsdPerMTok <= 0 && price.outputUsdPerMTok <= 0) {
      // A model priced $0 is free to the budget: its calls would never count against the caps.
      ctx.addIssue({
        code: "custom",
        path: ["budget", "prices", p.model],
        message: `Claude bills every call; give "${p.model}" its price per million input and output tokens`,
      });
    }
  }
});

export type RouterConfig = z.infer<typeof routerSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type QuotaLimits = z.infer<typeof limitsSchema>;
export type Price = z.infer<typeof priceSchema>;
export type BudgetConfig = z.infer<typeof budgetSchema>;
export type RetryConfig = z.infer<typeof retrySchema>;
export type BreakerConfig = z.infer<typeof breakerSchema>;
export type ClassifyRule = z.infer<typeof ruleSchema>;
export type ClassifyConfig = z.infer<typeof classifySchema>;

/**
 * Used when the config has no `router.classify`: qualified leads are high-value, and so is a lead an operator took
 * over (handed_off: maybe before it qualified) when the bot answers it again.
 */
export const DEFAULT_CLASSIFY: ClassifyConfig = {
  rules: [
    { tier: "high-value", leadQualified: true },
    { tier: "high-value", stages: ["qualified", "handed_off"] },
    { tier: "complex", minChars: 400 },
    { tier: "complex", questionTypes: ["why", "how", "compare"] },
  ],
  default: "simple",
};

/** A provider's config with its bulkhead size and timeout resolved. */
export type ResolvedProvider = ProviderConfig & { maxConcurrent: number; timeoutMs: number };

export interface RouterSettings {
  deadlineMs: number;
  providers: Record<string, ResolvedProvider>;
  chains: Record<Tier, readonly string[]>;
  classify: ClassifyConfig;
  retry: RetryConfig;
  breaker: BreakerConfig;
  budget: BudgetConfig;
}

/** The router config with every optional section filled with its defaults. */
export function resolveRouterSettings(cfg: RouterConfig): RouterSettings {
  return {
    deadlineMs: cfg.deadlineMs,
    providers: Object.fromEntries(
      Object.entries(cfg.providers).map(([name, p]) => [
        name,
        {
          ...p,
          maxConcurrent: p.maxConcurrent ?? (p.kind === "llama-cpp" ? 1 : 4),
          timeoutMs: p.timeoutMs ?? (p.kind === "llama-cpp" ? 15_000 : 3_000),
        },
      ]),
    ),
    chains: {
      simple: cfg.tiers?.simple ?? cfg.chain,
      complex: cfg.tiers?.complex ?? cfg.chain,
      "high-value": cfg.tiers?.["high-value"] ?? cfg.chain,
    },
    classify: cfg.classify ?? DEFAULT_CLASSIFY,
    retry: cfg.retry ?? retrySchema.parse({}),
    breaker: cfg.breaker ?? breakerSchema.parse({}),
    budget: cfg.budget ?? budgetSchema.parse({}),
  };
}
