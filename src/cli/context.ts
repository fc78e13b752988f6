/**
 * Shared steps of the commands that need a config file or the store: find the config, load it, and decide the
 * database URL (`--db` > `AIDEAZZ_DB` > the config's `store.url`).
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { type Config, ConfigError, loadConfig, secretValues } from "../config.ts";
import { createLogger, type Logger } from "../log.ts";
import { createRedactor } from "../redact.ts";
import { displayDbUrl, filePathOf, openStore, type Store } from "../store/mod.ts";
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
  const chosen = stringOption(values, "config") ?? envValue(deps, "AIDEAZZ_CONFIG") ?? "aideazz.json";
  return resolve(deps.cwd, chosen);
}

type CommandValues = Record<string, string | boolean | undefined>;

export function stringOption(values: CommandValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** An environment variable's value; set but empty (`AIDEAZZ_DB=` in a unit file) is not set. */
export function envValue(deps: Pick<CliDeps, "env">, name: string): string | undefined {
  return deps.env[name] || undefined;
}

/** A count or an id as an operator types it: decimal digits only ("0x10", "1e1" and "2.0" are not 16, 10 and 2). */
export function parsePositiveInt(text: string): number | undefined {
  const n = /^[1-9]\d*$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Per run of the CLI (the deps redactOutput made), how to add secrets to its output's redactor. */
const addSecretsOf = new WeakMap<CliDeps, (secrets: readonly string[]) => void>();

/**
 * `deps` whose stdout and stderr redact `secrets`, and from then on the secrets of every config readConfig reads
 * with them: an error can quote a token (a libSQL proxy echoing the Authorization header), and only the config
 * names the variables that hold one (`store.authTokenEnv` may be any name).
 */
export function redactOutput(deps: CliDeps, secrets: readonly string[]): CliDeps {
  let known = [...secrets];
  let redact = createRedactor(known);
  const out: CliDeps = { ...deps, stdout: (t) => deps.stdout(redact(t)), stderr: (t) => deps.stderr(redact(t)) };
  addSecretsOf.set(out, (more) => {
    known = [...known, ...more];
    redact = createRedactor(known);
  });
  return out;
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
  addSecretsOf.get(deps)?.(secretValues(config, deps.env));
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
  const override = stringOption(values, "db") ?? envValue(deps, "AIDEAZZ_DB");
  if (override !== undefined) {
    if (!DB_URL.test(override)) {
      // Never the value itself: a URL missing its scheme still carries its ?authToken=.
      const got = displayDbUrl(override);
      throw new UsageError(`--db must be a libSQL URL (file:PATH, libsql://…, http(s)://…), got ${got}`);
    }
    return resolveDbUrl(override, deps.cwd);
  }
  if (!loaded) throw new UsageError("no database: pass --db URL, set AIDEAZZ_DB, or give a config file");
  return resolveDbUrl(loaded.config.store.url, dirname(loaded.path));
}

function hasDbOverride(values: CommandValues, deps: CliDeps): boolean {
  return stringOption(values, "db") !== undefined || envValue(deps, "AIDEAZZ_DB") !== undefined;
}

/**
 * The config of a command that also runs on `--db`/`AIDEAZZ_DB` alone: without an override, the config (required);
 * with one, the config when one is named (`--config`, `AIDEAZZ_CONFIG`) or ./aideazz.json exists, else none.
 */
export async function readStoreConfig(values: CommandValues, deps: CliDeps): Promise<LoadedConfig | undefined> {
  if (hasDbOverride(values, deps) && stringOption(values, "config") === undefined && !envValue(deps, "AIDEAZZ_CONFIG")) {
    const found = await deps.readTextFile(configPathOf(values, deps)).then(() => true, () => false);
    if (!found) return undefined;
  }
  return await readConfig(values, deps, []);
}

/**
 * What to open: the URL (`dbUrlOf`) and the token of the config's `store.authTokenEnv` — kept with `--db` or
 * `AIDEAZZ_DB`, which replace only the URL (a `?authToken=` in the URL still wins: the client reads it last).
 */
export function storeTargetOf(
  values: CommandValues,
  deps: CliDeps,
  loaded?: LoadedConfig,
): { url: string; authToken?: string } {
  const url = dbUrlOf(values, deps, loaded);
  const authEnv = loaded?.config.store.authTokenEnv;
  const authToken = authEnv ? deps.env[authEnv] : undefined;
  return { url, ...(authToken ? { authToken } : {}) };
}

/**
 * Opens the store for a command that works on an existing database: `--db`/`AIDEAZZ_DB` need no config file;
 * otherwise the config's. A local file that does not exist is an error, never a new database.
 */
export async function openReadStore(
  values: CommandValues,
  deps: CliDeps,
): Promise<{ store: Store; url: string; config?: Config }> {
  const loaded = await readStoreConfig(values, deps);
  const target = storeTargetOf(values, deps, loaded);
  const store = await openStore({ ...target, create: false });
  return { store, url: target.url, ...(loaded ? { config: loaded.config } : {}) };
}

/**
 * Whether the store has `table`; when not, says so and that `aideazz migrate` makes it. A command on an existing
 * database never migrates it itself: only `aideazz migrate` and the agents change the schema.
 */
export async function hasTable(store: Store, table: string, deps: CliDeps): Promise<boolean> {
  const rs = await store.client.execute({ sql: "SELECT count(*) AS n FROM sqlite_master WHERE name = ?", args: [table] });
  if (Number(rs.rows[0]?.["n"] ?? 0) > 0) return true;
  deps.stderr(`aideazz: this database has no ${table} table yet; run 'aideazz migrate' first\n`);
  return false;
}

export function commandLogger(deps: CliDeps, agent: string, config?: Config): Logger {
  return createLogger({ agent, secrets: config ? secretValues(config, deps.env) : [], write: deps.stdout, now: deps.now });
}
