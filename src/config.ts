/**
 * The config file: one JSON document validated with zod. `loadConfig` is pure (text and environment in, typed
 * config or a list of field errors out); nothing below `main.ts` reads the environment.
 *
 * @module
 */
import { z } from "zod";
import { envVarName, httpUrl, port, URL_WITH_USERINFO } from "./config-types.ts";
import { toBytes } from "./ops/sizes.ts";
import { CHAT_STAGES, LEAD_TURN_STAGES, routerSchema, TURN_STAGES } from "./router/config.ts";
import { cacheSchema, conversationSchema } from "./agents/orchestrator/config.ts";
import { checkRoleKind, roleExtensions } from "./agents/orchestrator/roles/config.ts";
import { dashboardSchema, exposedWithoutLogin } from "./agents/dashboard/config.ts";
import { metricsConfigSchema } from "./metrics/config.ts";
import { agentOpsLimits, opsSchema } from "./ops/config.ts";
import {
  telegramExperienceSchema,
  webchatExperienceSchema,
  whatsappExperienceSchema,
} from "./agents/channel/experience.ts";

const agentName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "use lowercase letters, digits and dashes");

/**
 * An agent's memory limit. systemd ignores "0M" (no limit), while `aideazz health` and `aideazz up` would read it as
 * 0 bytes; and an agent idles at ~75-85 MiB RSS, so a limit far below that only kills or recycles it.
 */
const MIN_AGENT_MEMORY = "64M";
const agentMemory = (example: string) =>
  z.string().regex(/^\d+[KMG]$/, `e.g. "${example}"`)
    .refine((size) => toBytes(size) >= toBytes(MIN_AGENT_MEMORY), {
      message: `at least "${MIN_AGENT_MEMORY}": an idle agent uses ~80 MiB (systemd ignores "0M": no limit)`,
    });

const limitsSchema = z.strictObject({
  memoryMax: agentMemory("256M").default("256M"),
  memoryHigh: agentMemory("200M").optional(),
  // systemd ignores "0%" (no quota).
  cpuQuota: z.string().regex(/^\d+%$/, 'e.g. "50%"').refine((q) => parseInt(q) > 0, 'above "0%", e.g. "50%"')
    .default("50%"),
  cpuWeight: z.number().int().min(1).max(10_000).optional()
    .describe("systemd CPUWeight of the agent's unit, its CPU share when agents compete (default: channels 300, orchestrator and analytics 100)"),
  ...agentOpsLimits,
});

const agentBase = {
  name: agentName.describe("Unique agent name; the systemd instance and `aideazz agent <name>`"),
  role: z.string().optional().describe("Name of an entry under `roles`"),
  port: port.describe("Port of the agent's HTTP server (health, metrics, webhooks)"),
  host: z.string().regex(
    /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[?[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\]?)$/,
    'a host name or IP address, e.g. "127.0.0.1" or "0.0.0.0": no scheme, no port (that is "port")',
  ).default("127.0.0.1").describe("Address to bind; keep 127.0.0.1 behind a reverse proxy"),
  limits: limitsSchema.optional(),
};

const nonText = z.enum(["answer", "ignore"]).default("answer").describe(
  "Stickers, photos without caption, voice, …: 'answer' passes them on for the role's polite notice (the orchestrator's unsupportedText); 'ignore' records them unanswered",
);

const staleAfterS = z.number().int().positive().default(21_600)
  .describe("Messages older than this many seconds when they reach us (after an outage) are recorded as stale, never answered");

const telegramSchema = z.strictObject({
  mode: z.enum(["webhook", "polling"]).default("webhook")
    .describe("webhook: Telegram calls us (needs a public HTTPS URL); polling: we call getUpdates"),
  tokenEnv: envVarName.describe("Environment variable holding the bot token"),
  secretTokenEnv: envVarName.optional()
    .describe("Environment variable holding the webhook secret token (required in webhook mode; 1-256 of A-Z a-z 0-9 _ -)"),
  apiRoot: httpUrl.default("https://api.telegram.org").describe("Bot API server (a fake one in tests)"),
  webhookPath: z.string().regex(/^\/[A-Za-z0-9/_.-]*$/, 'a path such as "/telegram/webhook"').default("/telegram/webhook")
    .describe("Path of the webhook route on this agent's port"),
  // setWebhook refuses any other scheme: the agent would ask again for ever, unhealthy.
  webhookUrl: z.url().regex(/^https:/, "an https:// URL; Telegram's setWebhook takes no other").optional()
    .describe("Public HTTPS URL of the webhook; when set, the agent registers it with setWebhook at start"),
  // 0 is short polling, which the Bot API keeps for testing: an idle agent would call getUpdates without pause.
  pollTimeoutS: z.number().int().min(1).max(50).default(30).describe("Long-polling timeout of getUpdates (polling mode)"),
  staleAfterS,
  nonText,
  pacing: z.strictObject({
    perChatMs: z.number().int().min(0).default(1_000).describe("Minimum gap between two messages to one chat"),
    perGroupMs: z.number().int().min(0).default(3_000)
      .describe("Minimum gap between two messages to one group or channel (Telegram: 20 messages a minute per group)"),
    perSecond: z.number().positive().default(30).describe("Messages per second for the whole bot"),
  }).default({ perChatMs: 1_000, perGroupMs: 3_000, perSecond: 30 })
    .describe("Send pacing (Telegram: ~1 msg/s per chat, 20 msg/min per group, ~30 msg/s per bot)"),
  typing: z.strictObject({
    refreshMs: z.number().int().min(1_000).max(5_000).default(4_500)
      .describe("How often the typing indicator is renewed while a turn is in flight (Telegram shows it for 5 s)"),
    maxMs: z.number().int().min(0).default(120_000).describe("Stop showing typing after this long without a reply"),
    delayMs: z.number().int().min(0).max(5_000).default(1_000)
      .describe("Show typing only for a reply not sent within this long (FAQ and cache answers need no indicator)"),
    maxPerSecond: z.number().min(1).default(10)
      .describe("Typing actions per second for the whole bot; past it a renewal is skipped (each is an API call within the bot's limits)"),
  }).default({ refreshMs: 4_500, maxMs: 120_000, delayMs: 1_000, maxPerSecond: 10 })
    .describe("Typing indicator while the orchestrator works"),
  unknownOutcome: z.enum(["skip", "resend"]).default("skip").describe(
    "A reply whose send a kill left unknown (the agent died between recording its intent and the Bot API's answer; Telegram takes no idempotency key): 'skip' never sends it twice but loses it if the request never left (a ~0.3 ms window), 'resend' sends it again, so it may arrive twice (so may a reply whose agent froze for about a minute mid-send)",
  ),
}).superRefine((tg, ctx) => {
  if (tg.mode === "webhook" && tg.secretTokenEnv === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["secretTokenEnv"],
      message: "webhook mode needs a secret token (Telegram sends it in X-Telegram-Bot-Api-Secret-Token); set secretTokenEnv",
    });
  }
})
  // The rule above for the published JSON Schema, so an editor flags what the loader refuses.
  .meta({
    if: { properties: { mode: { const: "polling" } }, required: ["mode"] },
    else: { required: ["secretTokenEnv"] },
  });

const whatsappSchema = z.strictObject({
  phoneNumberId: z.string().regex(/^\d+$/, "the numeric phone number id from Meta")
    .describe(
      "The business phone number id (not the phone number) from Meta's WhatsApp settings. Webhooks for a number " +
        "no whatsapp agent has here are not stored (warned in the log and `aideazz health`): add an agent for it",
    ),
  appSecretEnv: envVarName.describe("Environment variable holding the Meta app secret"),
  accessTokenEnv: envVarName.describe("Environment variable holding the Graph API access token"),
  verifyTokenEnv: envVarName.describe("Environment variable holding the webhook verify token"),
  graphBaseUrl: httpUrl.default("https://graph.facebook.com/v21.0").describe("Graph API base URL with version"),
  webhookPath: z.string().regex(/^\/[A-Za-z0-9/_.-]*$/, 'a path such as "/whatsapp/webhook"').default("/whatsapp/webhook")
    .describe("Path of the webhook route (GET handshake, POST notifications) on this agent's port"),
  staleAfterS,
  nonText,
  template: z.strictObject({
    name: z.string().min(1).describe("Name of an approved message template"),
    language: z.string().min(2).describe('Its language code, e.g. "en_US"'),
  }).optional().describe(
    "Approved template sent instead of a reply when the user's 24-hour window is closed; without one such replies are recorded as not possible",
  ),
  markAsRead: z.boolean().default(true).describe("Mark each inbound message as read and show a typing indicator"),
  statusWaitS: z.number().int()
    .min(60, "at least 60 s, the send ledger's take-over of an intent without outcome (a shorter wait could not resend sooner)")
    .default(180)
    .describe(
      "How long a send whose outcome is unknown (the agent died mid-send, or the answer never came) waits for a status webhook naming it before it is settled as never taken and sent again, or skipped; shorter resends sooner, but a status Meta delivers later than this makes that reply a duplicate. Less than bus.handlerTimeoutMs",
    ),
  pacing: z.strictObject({
    perUserMs: z.number().int().min(0).default(6_000).describe("Minimum gap between two messages to one user (pair rate)"),
    perSecond: z.number().positive().default(80).describe("Messages per second for the phone number"),
  }).default({ perUserMs: 6_000, perSecond: 80 }).describe("Send pacing (WhatsApp: ~1 msg / 6 s per user, 80 msg/s per number)"),
  typing: z.strictObject({
    refreshMs: z.number().int().min(5_000).max(25_000).default(20_000)
      .describe("How often the typing indicator is shown again while a turn is in flight (WhatsApp shows it for up to 25 s)"),
    maxMs: z.number().int().min(0).default(120_000).describe("Stop showing typing after this long without a reply"),
    maxPerSecond: z.number().min(1).default(10)
      .describe(
        "Mark-as-read and typing calls per second for the phone number (each is an API call within its throughput); past it a call is skipped and the next renewal (or the reply, when it comes first) marks the chat's newest message",
      ),
  }).default({ refreshMs: 20_000, maxMs: 120_000, maxPerSecond: 10 })
    .describe("Typing indicator (with mark-as-read, so only when markAsRead is on) while the orchestrator works"),
});

const webchatSchema = z.strictObject({
  title: z.string().min(1).max(100).default("Chat with us").describe("Title shown on the chat page"),
  maxTextLength: z.number().int().min(1).max(4_096).default(2_000).describe("Longest message a visitor may send"),
  pollMs: z.number().int().min(250).max(10_000).default(1_000).describe("How often the page asks for new replies"),
  perAddressPerMinute: z.number().int().min(0).default(30).describe(
    "Messages one client address may post per minute (over it: 429, nothing stored); 0 = no limit. The session is the browser's to choose, so this is what bounds one client's model calls",
  ),
  perAddressDailyTokens: z.number().int().min(0).optional().describe(
    "Model tokens all sessions of one client address may use per UTC day (over it: conversation.tokenLimitedText, no model call); default 10 × conversation.perUserDailyTokens; 0 = no limit",
  ),
  clientAddressHeader: z.string().regex(/^[A-Za-z0-9-]+$/, "a header name such as x-forwarded-for").optional()
    .describe(
      "Behind your own reverse proxy: the header it sets to the client's address (its last value is used, e.g. x-forwarded-for or x-real-ip); without it every visitor has the proxy's address",
    ),
}).default({ title: "Chat with us", maxTextLength: 2_000, pollMs: 1_000, perAddressPerMinute: 30 });

const agentSchema = z.discriminatedUnion("kind", [
  z.strictObject({ ...agentBase, kind: z.literal("telegram"), telegram: telegramSchema, experience: telegramExperienceSchema.prefault({}) }),
  z.strictObject({ ...agentBase, kind: z.literal("whatsapp"), whatsapp: whatsappSchema, experience: whatsappExperienceSchema.prefault({}) }),
  z.strictObject({
    ...agentBase,
    kind: z.literal("webchat"),
    webchat: webchatSchema.describe("Web chat page settings"),
    experience: webchatExperienceSchema.prefault({}),
  }),
  z.strictObject({ ...agentBase, kind: z.literal("orchestrator"), apiKeyEnv: envVarName.optional() }),
  z.strictObject({ ...agentBase, kind: z.literal("analytics"), dashboard: dashboardSchema.optional() }),
]);

const ROLE_KINDS = ["support", "leads", "sales"] as const;
type RoleKind = (typeof ROLE_KINDS)[number];

const roleSchema = z.strictObject({
  kind: z.enum(ROLE_KINDS),
  systemPrompt: z.string().min(1),
  faq: z.string().optional().describe("Path of the FAQ file, relative to the config file"),
  greeting: z.string().default("Hi! How can I help?"),
  ...roleExtensions,
}).superRefine(checkRoleKind)
  // The rule above for the published JSON Schema, so an editor flags what the loader refuses.
  .meta({
    allOf: [
      { if: { required: ["leads"] }, then: { properties: { kind: { const: "leads" } } } },
      { if: { required: ["catalogue"] }, then: { properties: { kind: { const: "sales" } } } },
    ],
  });

/** The role of a channel agent configured without one: the role of that name, built in unless declared. */
export const DEFAULT_ROLE_NAME = "default";
export const builtInDefaultRole = roleSchema.parse({
  kind: "support",
  systemPrompt: "You are a helpful, concise assistant.",
});

/** Hosts that bind every address: no other agent can use their port. */
const WILDCARD = new Set(["0.0.0.0", "::"]);

/**
 * One address however it is written: "[::1]" is "::1", "LocalHost" is 127.0.0.1, and, as the URL host parser reads
 * them (the platform's resolver does the same), "::0" and "0:0:0:0:0:0:0:0" are "::", "0" is 0.0.0.0.
 */
function toAddress(host: string): string {
  const bare = host.replace(/^\[|\]$/g, "");
  let h = bare.toLowerCase();
  try {
    h = new URL(`http://${bare.includes(":") ? `[${bare}]` : bare}/`).hostname.replace(/^\[|\]$/g, "");
  } catch {
    // not a host the URL parser takes: compared as written
  }
  return h === "localhost" ? "127.0.0.1" : h;
}

/** Two listeners on one port clash when they share the address or one of them binds every address. */
function sameListener(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.port === b.port && (a.host === b.host || WILDCARD.has(a.host) || WILDCARD.has(b.host));
}

/**
 * Whether a URL (a destination, not a bind) reaches a listener of this machine: the listener's own address, or, when
 * the listener binds every address, a loopback one. Another machine on the same port number is not it.
 */
function reaches(url: { host: string; port: number }, listener: { host: string; port: number }): boolean {
  if (url.port !== listener.port) return false;
  const loopback = url.host === "::1" || url.host.startsWith("127.");
  return url.host === listener.host || (WILDCARD.has(listener.host) && loopback);
}

/** A URL's host (as `toAddress` reads it) and port. */
function listenerOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: toAddress(u.hostname), port: Number(u.port || (u.protocol === "https:" ? 443 : 80)) };
}

type ParsedAgent = z.infer<typeof agentSchema>;

/** The stages a turn carries by its role's kind: a leads role's, its lead's (leads-flow.ts); the others' turn.ts's. */
const STAGES_OF_KIND: Record<RoleKind, readonly string[]> = {
  support: CHAT_STAGES,
  sales: CHAT_STAGES,
  leads: LEAD_TURN_STAGES,
};

/**
 * The role kinds whose turns a classify rule's `roles` entry matches (router/classify.ts compares it with a turn's
 * role name and kind): the kind of the role of that name (the built-in default's unless declared) and the kind it
 * names. "api" has none: the OpenAI endpoint's turns carry no kind, stage or lead flag (openai.ts).
 */
function kindsNamed(name: string, roles: Record<string, { kind: RoleKind }>): RoleKind[] {
  const role = Object.hasOwn(roles, name) ? roles[name] : name === DEFAULT_ROLE_NAME ? builtInDefaultRole : undefined;
  const kinds = role ? [role.kind] : [];
  const kind = ROLE_KINDS.find((k) => k === name);
  return kind ? [...kinds, kind] : kinds;
}

/**
 * A classify rule whose roles' turns can never carry its lead flag or any of its stages: it would never match.
 * A lead-qualified turn is a leads role's, so `leadQualified: true` narrows the stages to a lead's.
 */
function unreachableRule(
  rule: { roles?: string[] | undefined; leadQualified?: boolean | undefined; stages?: string[] | undefined },
  roles: Record<string, { kind: RoleKind }>,
): { path: string; message: string } | undefined {
  const named = rule.roles?.flatMap((name) => kindsNamed(name, roles)) ?? ROLE_KINDS;
  const names = rule.roles?.map((n) => `"${n}"`).join(", ");
  if (rule.leadQualified === true && !named.includes("leads")) {
    const message = `true only for a leads role's turns, and none of roles ${names} is a leads role or the kind ` +
      '"leads": this rule could never match';
    return { path: "leadQualified", message };
  }
  if (!rule.stages) return undefined;
  const kinds = rule.leadQualified === true ? ["leads" as const] : named;
  const reachable: readonly string[] = TURN_STAGES.filter((s) => kinds.some((k) => STAGES_OF_KIND[k].includes(s)));
  if (rule.stages.some((s) => reachable.includes(s))) return undefined;
  const whose = rule.leadQualified === true ? "lead-qualified turns (a leads role's)" : `turns of roles ${names}`;
  const message = reachable.length === 0
    ? `${whose} carry no stage (an "api" turn, the OpenAI endpoint's, has none): this rule could never match; ` +
      "drop stages"
    : `${whose} only have stage ${reachable.join(", ")} (a leads role's turn has its lead's stage, a support or ` +
      "sales role's first or ongoing): this rule could never match";
  return { path: "stages", message };
}

/**
 * The same bot or phone number as an earlier agent (a copy-pasted entry): Telegram delivers a bot's updates to one
 * webhook, and two pollers both get an update neither confirmed yet, so one agent would get nothing, or a message
 * would be answered twice; two agents on one WhatsApp number would both answer for it.
 */
function sharedChannel(agents: readonly ParsedAgent[], i: number): { path: string[]; message: string } | undefined {
  const agent = agents[i]!;
  const earlier = agents.slice(0, i);
  if (agent.kind === "telegram") {
    const j = earlier.findIndex((a) => a.kind === "telegram" && a.telegram.tokenEnv === agent.telegram.tokenEnv);
    if (j < 0) return undefined;
    const message = `agents[${j}] ("${agents[j]!.name}") uses the same bot token variable ${agent.telegram.tokenEnv}: ` +
      "Telegram delivers each update of a bot to one agent (or, polling, to both: answered twice); give each agent its own bot";
    return { path: ["telegram", "tokenEnv"], message };
  }
  if (agent.kind === "whatsapp") {
    const id = agent.whatsapp.phoneNumberId;
    const j = earlier.findIndex((a) => a.kind === "whatsapp" && a.whatsapp.phoneNumberId === id);
    if (j < 0) return undefined;
    const message = `agents[${j}] ("${agents[j]!.name}") uses the same phone number id ${id}: ` +
      "both would answer for one number; give each agent its own";
    return { path: ["whatsapp", "phoneNumberId"], message };
  }
  return undefined;
}

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  store: z.strictObject({
    url: z.string().regex(/^(file:|libsql:|https?:|wss?:)/, "a libSQL URL: file:PATH, libsql://, http(s)://")
      // Every agent's start and `migrate` refuse it (store/open.ts); the message never repeats the password.
      .refine((url) => !URL_WITH_USERINFO.test(url), {
        message: "holds a user and password, which libSQL does not take: give a token as ?authToken= or in the " +
          "variable store.authTokenEnv names",
      })
      .default("file:data/aideazz.db")
      .describe("Where the database lives; relative file: paths are relative to the config file"),
    authTokenEnv: envVarName.optional().describe("Environment variable holding a libSQL server auth token"),
  }).default({ url: "file:data/aideazz.db" }),
  agents: z.array(agentSchema).min(1, "declare at least one agent"),
  roles: z.record(z.string(), roleSchema).default({}),
  router: routerSchema.default({ deadlineMs: 20_000, providers: {}, chain: [] }),
  cache: cacheSchema.prefault({}).describe("The orchestrator's reply cache"),
  conversation: conversationSchema.prefault({}).describe("Conversation memory, abuse limits and the orchestrator's own texts"),
  ops: opsSchema.prefault({}),
  bus: z.strictObject({
    handlerTimeoutMs: z.number().int().min(30_000, "at least one lease (30000 ms); the value is in milliseconds").optional()
      .describe(
        "A bus handler (an orchestrator turn, a channel's send of a reply) still running after this long is abandoned: its message goes back for a retry (dead-lettered after its attempts), its chat moves on. Default: 20 leases, 600000 ms",
      ),
  }).prefault({}),
  metrics: metricsConfigSchema.prefault({}),
}).superRefine((config, ctx) => {
  const names = new Map<string, number>();
  const ports: { host: string; port: number; owner: string }[] = [];
  // The llama.cpp sidecar (aideazz-llama.service) binds its URL's host and port on this machine too.
  if (config.ops.llama) {
    const llama = listenerOf(config.ops.llama.url);
    ports.push({ ...llama, owner: "the llama.cpp sidecar (ops.llama.url)" });
    // llama-server without --embeddings answers /v1/embeddings 501: the semantic tier would never work.
    const embeddings = config.cache.embeddings;
    if (embeddings && !config.ops.llama.embeddings && reaches(listenerOf(embeddings.baseUrl), llama)) {
      ctx.addIssue({
        code: "custom",
        path: ["cache", "embeddings", "baseUrl"],
        message: "the llama.cpp sidecar (ops.llama.url) is started without --embeddings and answers every " +
          "embeddings request 501; set ops.llama.embeddings to true (and render the units again)",
      });
    }
  }
  const deadlineMs = config.bus.handlerTimeoutMs ?? 600_000; // the bus's default for the channels' sends: 20 leases
  config.agents.forEach((agent, i) => {
    const sameName = names.get(agent.name);
    if (sameName !== undefined) {
      ctx.addIssue({ code: "custom", path: ["agents", i, "name"], message: `duplicate name; agents[${sameName}] is also "${agent.name}"` });
    }
    names.set(agent.name, i);
    // One port, two agents: the same address, or one of them on every address (0.0.0.0, ::) — Linux refuses both.
    const host = toAddress(agent.host);
    const samePort = ports.find((p) => sameListener(p, { host, port: agent.port }));
    if (samePort !== undefined) {
      ctx.addIssue({ code: "custom", path: ["agents", i, "port"], message: `duplicate port ${agent.port}; ${samePort.owner} uses it` });
    }
    ports.push({ host, port: agent.port, owner: `agents[${i}]` });
    if (agent.role !== undefined && !Object.hasOwn(config.roles, agent.role)) {
      ctx.addIssue({ code: "custom", path: ["agents", i, "role"], message: `unknown role "${agent.role}"; declare it under roles` });
    }
    if (agent.kind === "analytics") {
      const exposed = exposedWithoutLogin(agent.host, agent.dashboard?.passwordEnv !== undefined);
      if (exposed) ctx.addIssue({ code: "custom", path: ["agents", i, "host"], message: exposed });
    }
    const shared = sharedChannel(config.agents, i);
    if (shared) ctx.addIssue({ code: "custom", path: ["agents", i, ...shared.path], message: shared.message });
    if (agent.kind === "whatsapp" && agent.whatsapp.statusWaitS * 1_000 >= deadlineMs) {
      ctx.addIssue({
        code: "custom",
        path: ["agents", i, "whatsapp", "statusWaitS"],
        message: `less than bus.handlerTimeoutMs (${deadlineMs} ms): the send waits inside the bus handler, which is ` +
          "abandoned at that deadline, and a reply cut short at every attempt is dead-lettered unsent; raise that too",
      });
    }
  });
  // A classify rule's roles compare, case-sensitively, with a turn's role name and kind (router/classify.ts).
  const roleNames = new Set([...Object.keys(config.roles), DEFAULT_ROLE_NAME, "api", "support", "leads", "sales"]);
  config.router.classify?.rules.forEach((rule, r) => {
    rule.roles?.forEach((name, i) => {
      if (roleNames.has(name)) return;
      ctx.addIssue({
        code: "custom",
        path: ["router", "classify", "rules", r, "roles", i],
        message: `no role is named "${name}" (names are case-sensitive); use a name under roles, "${DEFAULT_ROLE_NAME}", ` +
          '"api" (the OpenAI endpoint) or a kind: support, leads, sales',
      });
    });
    const never = unreachableRule(rule, config.roles);
    if (never) {
      ctx.addIssue({ code: "custom", path: ["router", "classify", "rules", r, never.path], message: never.message });
    }
  });
  // The orchestrator sends handoffs and leads through the operator's agent's bot: it must be a telegram agent.
  for (const [name, role] of Object.entries(config.roles)) {
    if (!role.operator) continue;
    const agent = config.agents.find((a) => a.name === role.operator?.agent);
    if (agent?.kind === "telegram") continue;
    const is = agent ? `not a telegram agent (kind ${agent.kind})` : "not a configured agent";
    ctx.addIssue({
      code: "custom",
      path: ["roles", name, "operator", "agent"],
      message: `"${role.operator.agent}" is ${is}; name a telegram agent`,
    });
  }
});

export type Config = z.infer<typeof configSchema>;
export type AgentConfig = Config["agents"][number];
export type AgentKind = AgentConfig["kind"];

/** One invalid field: where it is, what is wrong, and how to fix it. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
    this.name = "ConfigError";
  }
}

/** What Telegram accepts as a webhook's secret token (setWebhook's `secret_token`). */
export const TELEGRAM_SECRET_TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/** A secret the config refers to: the field naming it, the variable, and its value when set. */
export interface SecretRef {
  path: string;
  envVar: string;
  value: string | undefined;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out === "" ? "(root)" : out;
}

/** A zod issue as the operator reads it: the field's path and what to do. */
export function toIssue(issue: z.core.$ZodIssue): ConfigIssue {
  const path = formatPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    return { path, message: `unknown field ${issue.keys.map((k) => `"${k}"`).join(", ")}; remove it or check the spelling` };
  }
  if (issue.code === "invalid_union" && "note" in issue && issue.note === "No matching discriminator") {
    return { path, message: 'unknown agent kind; use one of "telegram", "whatsapp", "webchat", "orchestrator", "analytics"' };
  }
  if (issue.code === "invalid_key") {
    // A record's key (a provider's name): its own rule's message, not zod's "Invalid key in record".
    const [first] = issue.issues;
    return { path, message: first ? toIssue(first).message : issue.message };
  }
  if (issue.code === "invalid_type") {
    // JSON.parse reads 1e400 as Infinity: of type number, so "expected number, got number" would say nothing.
    if (typeof issue.input === "number" && !Number.isFinite(issue.input)) {
      return { path, message: "a number too large to be finite; write a smaller one" };
    }
    const got = issue.input === undefined
      ? "nothing (the field is missing)"
      : issue.input === null
      ? "null"
      : Array.isArray(issue.input)
      ? "array"
      : typeof issue.input;
    return { path, message: `expected ${issue.expected}, got ${got}` };
  }
  return { path, message: issue.message };
}

/** Walks a parsed config and lists every `…Env` field: the secrets it refers to. */
export function findSecretRefs(value: unknown, env: Readonly<Record<string, string | undefined>>, path: PropertyKey[] = []): SecretRef[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => findSecretRefs(v, env, [...path, i]));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, v]) => {
    if (key.endsWith("Env") && typeof v === "string") {
      return [{ path: formatPath([...path, key]), envVar: v, value: env[v] }];
    }
    return findSecretRefs(v, env, [...path, key]);
  });
}

/** Every configured secret value that is set: what the logger redacts. */
export function secretValues(config: Config, env: Readonly<Record<string, string | undefined>>): string[] {
  return findSecretRefs(config, env).flatMap((s) => (s.value ? [s.value] : []));
}

/**
 * Parses and validates a config file's text. Throws `ConfigError` listing every invalid field (checks across
 * fields run once the fields have the right types).
 * Secrets referenced by the agents named in `requireSecretsOf` (or all, when omitted) must be set in `env`.
 */
export function loadConfig(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
  requireSecretsOf?: readonly string[],
): Config {
  const source = text.replace(/^\uFEFF/, ""); // a byte-order mark, as some editors save
  let json: unknown;
  try {
    json = JSON.parse(source);
  } catch (err) {
    throw new ConfigError([{ path: "(root)", message: `not valid JSON: ${jsonError(source, err as Error)}` }]);
  }
  const twice = duplicateKeyIssues(source);
  const parsed = configSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw new ConfigError([...twice, ...parsed.error.issues.map(toIssue)]);
  if (twice.length > 0) throw new ConfigError(twice);
  const config = parsed.data;
  const needed = findSecretRefs(config, env).filter((s) => {
    if (requireSecretsOf === undefined) return true;
    const match = /^agents\[(\d+)\]/.exec(s.path);
    if (match) return requireSecretsOf.includes(config.agents[Number(match[1])]?.name ?? "");
    // The router's and the cache's (its embeddings) are the orchestrator's.
    return s.path.startsWith("router") || s.path.startsWith("cache")
      ? requireSecretsOf.some((n) => agentKindOf(config, n) === "orchestrator")
      : true;
  });
  const issues = needed.flatMap((s): ConfigIssue[] => {
    if (s.value === undefined || s.value === "") {
      const message = `environment variable ${s.envVar} is not set; add it to the EnvironmentFile (e.g. /etc/aideazz/secrets.env)`;
      return [{ path: s.path, message }];
    }
    // Telegram's setWebhook refuses any other secret token, and a webhook agent would not start.
    const tg = /^agents\[(\d+)\]\.telegram\.secretTokenEnv$/.exec(s.path);
    const agent = tg ? config.agents[Number(tg[1])] : undefined;
    if (agent?.kind === "telegram" && agent.telegram.mode === "webhook" && !TELEGRAM_SECRET_TOKEN.test(s.value)) {
      return [{ path: s.path, message: `the secret token in ${s.envVar} must be 1-256 characters of A-Z a-z 0-9 _ -` }];
    }
    // Basic auth splits "user:password" at the first colon (RFC 7617): every login would be refused.
    if (/^agents\[\d+\]\.dashboard\.userEnv$/.test(s.path) && /[:\p{Cc}]/u.test(s.value)) {
      return [{ path: s.path, message: `the user name in ${s.envVar} must have no colon or control character` }];
    }
    return [];
  });
  issues.push(...sharedTokenIssues(config, env, needed));
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

/**
 * A needed bot token whose value another telegram agent's variable holds too: two variable names, one bot (the
 * schema catches one variable named twice). Only the values tell, so this runs where the secrets are known.
 */
function sharedTokenIssues(config: Config, env: Readonly<Record<string, string | undefined>>, needed: SecretRef[]): ConfigIssue[] {
  const tokens = findSecretRefs(config, env).flatMap((s) => {
    const at = /^agents\[(\d+)\]\.telegram\.tokenEnv$/.exec(s.path);
    return at && s.value ? [{ ...s, i: Number(at[1]), name: config.agents[Number(at[1])]!.name }] : [];
  });
  const neededPaths = new Set(needed.map((s) => s.path));
  return tokens.flatMap((t) => {
    if (!neededPaths.has(t.path)) return [];
    // Reported once per pair: on the later agent, unless only the earlier one is needed here (its own start).
    const other = tokens.find((o) =>
      o.i !== t.i && o.envVar !== t.envVar && o.value === t.value && (o.i < t.i || !neededPaths.has(o.path))
    );
    if (!other) return [];
    const message = `${t.envVar} holds the same bot token as ${other.envVar} of agents[${other.i}] ("${other.name}"): ` +
      `agents "${other.name}" and "${t.name}" would take each other's updates; give each agent its own bot`;
    return [{ path: t.path, message }];
  });
}

/**
 * A key written twice in one object of `text` (valid JSON), one issue each. JSON.parse keeps the last without a
 * word: a `"cache": { "enabled": false }` above a second "cache" block would be dropped and the cache left on.
 */
export function duplicateKeyIssues(text: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  // Each object or array the scan is in, and where in it: the key just read, or the item's index.
  const open: { keys: Set<string> | undefined; at: string | number }[] = [];
  let keyNext = false; // the next string is a key: after "{" or an object's ","
  for (const [token] of text.matchAll(/"(?:[^"\\]|\\.)*"|[{}[\],]/g)) {
    const top = open.at(-1);
    if (token === "{" || token === "[") {
      keyNext = token === "{";
      open.push(keyNext ? { keys: new Set(), at: "" } : { keys: undefined, at: 0 });
    } else if (token === "}" || token === "]") open.pop();
    else if (token === ",") {
      if (top?.keys) keyNext = true;
      else if (typeof top?.at === "number") top.at++;
    } else if (keyNext && top?.keys) {
      const key = JSON.parse(token) as string; // unescaped: "\u0061" and "a" are one key
      if (top.keys.has(key)) {
        const path = formatPath([...open.slice(0, -1).map((o) => o.at), key]);
        issues.push({ path, message: "duplicate key: written twice in one object, only the last would count; merge the two" });
      }
      top.keys.add(key);
      top.at = key;
      keyNext = false;
    }
  }
  return issues;
}

/** JSON.parse's message without the text it quotes (a secret pasted into the file), with line and column. */
export function jsonError(text: string, err: Error): string {
  let message = err.message;
  let at = /at position (\d+)/.exec(message)?.[1];
  // V8: `Unexpected token 'x', ..."<10 characters either side>"... is not valid JSON`.
  const quoted = /^(Unexpected token '[\s\S]+?'), (\.\.\.)?"([\s\S]*)"(\.\.\.)? is not valid JSON$/.exec(message);
  if (quoted) {
    const [, head, cutStart, around, cutEnd] = quoted;
    message = head!;
    if (cutStart) at = String(text.indexOf(around!) + 10);
    else if (cutEnd) at = String(around!.length - 10);
  }
  if (at === undefined || message.includes("(line ")) return message;
  const lines = text.slice(0, Number(at)).split("\n");
  return `${message} (line ${lines.length} column ${lines.at(-1)!.length + 1})`;
}

function agentKindOf(config: Config, name: string): AgentKind | undefined {
  return config.agents.find((a) => a.name === name)?.kind;
}

/** The JSON Schema editors use to autocomplete `aideazz.json` (published as `aideazz.schema.json`). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
