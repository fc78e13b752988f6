/**
 * Shared steps of the commands that need a config file or the store: find the config, load it, and decide the
 * database URL (`--db` > `AIDEAZZ_DB` > the config's `store.url`).
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { type Config, ConfigError, loadConfig, secretValues } from "../config.ts";
import { createLogger, type Logger } from "../log.ts";
import { filePathOf, openStore, type Store } from "../store/mod.ts";
import { type CliDeps, UsageError } from "./command.ts";

export const GLOBAL_OPTIONS = {
  config: { type: "string" },
  db: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const GLOBAL_OPTION_HELP = [
  "--config PATH   config file (default: $AIDEAZZ_CONFIG, else ./aideazz.json)",
  "--db URL        libSQL URL overriding the config's store (default: $AIDEAZZ_DB), e.g. file:data/aideazz.db",
  "-h, --help      show help",
];

export interface LoadedConfig {
  config: Config;
  path: string;
}

export function configPathOf(values: CommandValues, deps: CliDeps): string {
  const chosen = stringOption(values, "config") ?? deps.env["AIDEAZZ_CONFIG"] ?? "aideazz.json";
  return resolve(deps.cwd, chosen);
}

type CommandValues = Record<string, string | boolean | undefined>;

export function stringOption(values: CommandValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** Reads and validates the config file; a missing file is a ConfigError naming where we looked. */
export async function readConfig(values: CommandValues, deps: CliDeps, requireSecretsOf?: string[]): Promise<LoadedConfig> {
  const path = configPathOf(values, deps);
  let text: string;
  try {
    text = await deps.readTextFile(path);
  } catch {
    throw new ConfigError([{
      path: "(file)",
      message: `cannot read config file ${path}; pass --config PATH or set AIDEAZZ_CONFIG (start from aideazz.example.json)`,
    }]);
  }
  const config = loadConfig(text, deps.env, requireSecretsOf);
  // Files named in the config are relative to the config file, wherever the command runs from.
  for (const role of Object.values(config.roles)) {
    if (role.faq !== undefined) role.faq = resolve(dirname(path), role.faq);
  }
  return { config, path };
}

const DB_URL = /^(file:|libsql:|https?:|wss?:)/;

/** Makes a relative `file:` URL relative to `baseDir` (the config file's folder). */
export function resolveDbUrl(url: string, baseDir: string): string {
  const path = filePathOf(url);
  if (path === undefined || path === ":memory:" || isAbsolute(path)) return url;
  return `file:${resolve(baseDir, path)}`;
}

/** The database URL for a command: `--db`, else `AIDEAZZ_DB`, else the config's (relative to the config file). */
export function dbUrlOf(values: CommandValues, deps: CliDeps, loaded?: LoadedConfig): string {
  const override = stringOption(values, "db") ?? deps.env["AIDEAZZ_DB"];
  if (override !== undefined) {
    if (!DB_URL.test(override)) {
      throw new UsageError(`--db must be a libSQL URL (file:PATH, libsql://…, http(s)://…), got "${override}"`);
    }
    return resolveDbUrl(override, deps.cwd);
  }
  if (!loaded) throw new UsageError("no database: pass --db URL, set AIDEAZZ_DB, or give a config file");
  return resolveDbUrl(loaded.config.store.url, dirname(loaded.path));
}

/**
 * Opens the store for a command that works on an existing database: `--db`/`AIDEAZZ_DB` need no config file;
 * otherwise the config's. A local file that does not exist is an error, never a new database.
 */
export async function openReadStore(
  values: CommandValues,
  deps: CliDeps,
): Promise<{ store: Store; url: string; config?: Config }> {
  const hasDbOverride = stringOption(values, "db") !== undefined || deps.env["AIDEAZZ_DB"] !== undefined;
  const loaded = hasDbOverride ? undefined : await readConfig(values, deps, []);
  const url = dbUrlOf(values, deps, loaded);
  const authEnv = loaded?.config.store.authTokenEnv;
  const authToken = authEnv ? deps.env[authEnv] : undefined;
  const store = await openStore({ url, create: false, ...(authToken ? { authToken } : {}) });
  return { store, url, ...(loaded ? { config: loaded.config } : {}) };
}

/** Shows a database URL without credentials or query parameters. */
export function displayDbUrl(url: string): string {
  try {
    if (url.startsWith("file:")) return url.split("?")[0] ?? url;
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(unparsable URL)";
  }
}

export function commandLogger(deps: CliDeps, agent: string, config?: Config): Logger {
  return createLogger({ agent, secrets: config ? secretValues(config, deps.env) : [], write: deps.stdout, now: deps.now });
}
