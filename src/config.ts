/**
 * The config file: one JSON document validated with zod. `loadConfig` is pure (text and environment in, typed
 * config or a list of field errors out); nothing below `main.ts` reads the environment.
 *
 * @module
 */
import { z } from "zod";
import { envVarName, port } from "./config-types.ts";
import { routerSchema } from "./router/config.ts";

const agentName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "use lowercase letters, digits and dashes");

const limitsSchema = z.strictObject({
  memoryMax: z.string().regex(/^\d+[KMG]$/, 'e.g. "256M"').default("256M"),
  memoryHigh: z.string().regex(/^\d+[KMG]$/, 'e.g. "200M"').optional(),
  cpuQuota: z.string().regex(/^\d+%$/, 'e.g. "50%"').default("50%"),
});

const agentBase = {
  name: agentName.describe("Unique agent name; the systemd instance and `aideazz agent <name>`"),
  role: z.string().optional().describe("Name of an entry under `roles`"),
  port: port.describe("Port of the agent's HTTP server (health, metrics, webhooks)"),
  host: z.string().default("127.0.0.1").describe("Address to bind; keep 127.0.0.1 behind a reverse proxy"),
  limits: limitsSchema.optional(),
};

const telegramSchema = z.strictObject({
  mode: z.enum(["webhook", "polling"]).default("webhook"),
  tokenEnv: envVarName.describe("Environment variable holding the bot token"),
  secretTokenEnv: envVarName.optional().describe("Environment variable holding the webhook secret token"),
  apiRoot: z.url().default("https://api.telegram.org"),
});

const whatsappSchema = z.strictObject({
  phoneNumberId: z.string().regex(/^\d+$/, "the numeric phone number id from Meta"),
  appSecretEnv: envVarName.describe("Environment variable holding the Meta app secret"),
  accessTokenEnv: envVarName.describe("Environment variable holding the Graph API access token"),
  verifyTokenEnv: envVarName.describe("Environment variable holding the webhook verify token"),
  graphBaseUrl: z.url().default("https://graph.facebook.com/v21.0"),
});

const agentSchema = z.discriminatedUnion("kind", [
  z.strictObject({ ...agentBase, kind: z.literal("telegram"), telegram: telegramSchema }),
  z.strictObject({ ...agentBase, kind: z.literal("whatsapp"), whatsapp: whatsappSchema }),
  z.strictObject({ ...agentBase, kind: z.literal("webchat") }),
  z.strictObject({ ...agentBase, kind: z.literal("orchestrator"), apiKeyEnv: envVarName.optional() }),
  z.strictObject({ ...agentBase, kind: z.literal("analytics") }),
]);

const roleSchema = z.strictObject({
  kind: z.enum(["support", "leads", "sales"]),
  systemPrompt: z.string().min(1),
  faq: z.string().optional().describe("Path of the FAQ file, relative to the config file"),
  greeting: z.string().default("Hi! How can I help?"),
});

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  store: z.strictObject({
    url: z.string().regex(/^(file:|libsql:|https?:|wss?:)/, "a libSQL URL: file:PATH, libsql://, http(s)://")
      .default("file:data/aideazz.db")
      .describe("Where the database lives; relative file: paths are relative to the config file"),
    authTokenEnv: envVarName.optional().describe("Environment variable holding a libSQL server auth token"),
  }).default({ url: "file:data/aideazz.db" }),
  agents: z.array(agentSchema).min(1, "declare at least one agent"),
  roles: z.record(z.string(), roleSchema).default({}),
  router: routerSchema.default({ deadlineMs: 20_000, providers: {}, chain: [] }),
}).superRefine((config, ctx) => {
  const names = new Map<string, number>();
  const ports = new Map<string, number>();
  config.agents.forEach((agent, i) => {
    const sameName = names.get(agent.name);
    if (sameName !== undefined) {
      ctx.addIssue({ code: "custom", path: ["agents", i, "name"], message: `duplicate name; agents[${sameName}] is also "${agent.name}"` });
    }
    names.set(agent.name, i);
    const key = `${agent.host}:${agent.port}`;
    const samePort = ports.get(key);
    if (samePort !== undefined) {
      ctx.addIssue({ code: "custom", path: ["agents", i, "port"], message: `duplicate port ${agent.port}; agents[${samePort}] uses it` });
    }
    ports.set(key, i);
    if (agent.role !== undefined && !(agent.role in config.roles)) {
      ctx.addIssue({ code: "custom", path: ["agents", i, "role"], message: `unknown role "${agent.role}"; declare it under roles` });
    }
  });
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

function toIssue(issue: z.core.$ZodIssue): ConfigIssue {
  const path = formatPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    return { path, message: `unknown field ${issue.keys.map((k) => `"${k}"`).join(", ")}; remove it or check the spelling` };
  }
  if (issue.code === "invalid_union" && "note" in issue && issue.note === "No matching discriminator") {
    return { path, message: 'unknown agent kind; use one of "telegram", "whatsapp", "webchat", "orchestrator", "analytics"' };
  }
  if (issue.code === "invalid_type") {
    const got = issue.input === undefined ? "nothing (the field is missing)" : Array.isArray(issue.input) ? "array" : typeof issue.input;
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
 * Parses and validates a config file's text. Throws `ConfigError` listing every invalid field.
 * Secrets referenced by the agents named in `requireSecretsOf` (or all, when omitted) must be set in `env`.
 */
export function loadConfig(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
  requireSecretsOf?: readonly string[],
): Config {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([{ path: "(root)", message: `not valid JSON: ${(err as Error).message}` }]);
  }
  const parsed = configSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map(toIssue));
  const config = parsed.data;
  const missing = findSecretRefs(config, env).filter((s) => {
    if (s.value !== undefined && s.value !== "") return false;
    if (requireSecretsOf === undefined) return true;
    const match = /^agents\[(\d+)\]/.exec(s.path);
    if (match) return requireSecretsOf.includes(config.agents[Number(match[1])]?.name ?? "");
    return s.path.startsWith("router") ? requireSecretsOf.some((n) => agentKindOf(config, n) === "orchestrator") : true;
  });
  if (missing.length > 0) {
    throw new ConfigError(missing.map((s) => ({
      path: s.path,
      message: `environment variable ${s.envVar} is not set; add it to the EnvironmentFile (e.g. /etc/aideazz/secrets.env)`,
    })));
  }
  return config;
}

function agentKindOf(config: Config, name: string): AgentKind | undefined {
  return config.agents.find((a) => a.name === name)?.kind;
}

/** The JSON Schema editors use to autocomplete `aideazz.json` (published as `aideazz.schema.json`). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
