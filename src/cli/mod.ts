/**
 * The `aideazz` command line: a static table of commands (one small module each) and a dispatcher built on
 * `node:util` parseArgs. `@std/cli` is JSR-only and JSR is unreachable on our machines (see README).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError } from "../config.ts";
import { DEFAULT_WRITE_PATHS } from "../platform.ts";
import { VERSION } from "../version.ts";
import { type CliDeps, type Command, defineCommand, UsageError } from "./command.ts";
import { agentCommand } from "./commands/agent.ts";
import { busDlqCommand, busStatsCommand } from "./commands/bus.ts";
import { cacheClearCommand, cacheEvalCommand, cacheStatsCommand } from "./commands/cache.ts";
import { configCheckCommand, configSchemaCommand } from "./commands/config.ts";
import { forgetCommand } from "./commands/forget.ts";
import { healthCommand } from "./commands/health.ts";
import { leadsExportCommand } from "./commands/leads.ts";
import { migrateCommand } from "./commands/migrate.ts";
import { backupCommand } from "./commands/backup.ts";
import { statsCommand } from "./commands/stats.ts";
import { systemdRenderCommand, systemdRestartCommand } from "./commands/systemd.ts";
import { upCommand } from "./commands/up.ts";
import { traceCommand } from "./commands/trace.ts";
import { versionCommand } from "./commands/version.ts";
import { GLOBAL_OPTION_HELP, GLOBAL_OPTIONS, redactOutput } from "./context.ts";

export type { CliDeps, Command } from "./command.ts";

const helpCommand = defineCommand({
  name: "help",
  summary: "show help for a command",
  args: "[command]",
  positionals: { min: 0, max: 2 },
  run({ positionals, deps }) {
    if (positionals.length === 0) {
      deps.stdout(usage());
      return Promise.resolve(0);
    }
    const group = groupOf(positionals[0]);
    if (positionals.length === 1 && group.length > 0) {
      deps.stdout(groupUsage(positionals[0]!, group));
      return Promise.resolve(0);
    }
    const command = findCommand(positionals);
    if (!command || command.words !== positionals.length) {
      throw new UsageError(`unknown command "${positionals.join(" ")}"`);
    }
    deps.stdout(commandUsage(command.command));
    return Promise.resolve(0);
  },
});

export const commands: readonly Command[] = [
  agentCommand,
  migrateCommand,
  backupCommand,
  configCheckCommand,
  configSchemaCommand,
  upCommand,
  healthCommand,
  statsCommand,
  traceCommand,
  busStatsCommand,
  busDlqCommand,
  cacheStatsCommand,
  cacheClearCommand,
  cacheEvalCommand,
  leadsExportCommand,
  forgetCommand,
  systemdRenderCommand,
  systemdRestartCommand,
  versionCommand,
  helpCommand,
];

/** The subcommands of `word` (`bus`, `cache`, `config`, …); none when it is not a group. */
function groupOf(word: string | undefined): Command[] {
  return word === undefined ? [] : commands.filter((c) => c.name.startsWith(`${word} `));
}

function groupUsage(word: string, group: readonly Command[]): string {
  const width = Math.max(...group.map((c) => `${c.name} ${c.args ?? ""}`.length));
  return [
    `Usage: aideazz ${word} <${group.map((c) => c.name.slice(word.length + 1)).join("|")}> [options]`,
    "",
    "Commands:",
    ...group.map((c) => `  ${`${c.name} ${c.args ?? ""}`.padEnd(width)}  ${c.summary}`),
    "",
    `Run 'aideazz help ${word} <command>' for a command's options.`,
    "",
  ].join("\n");
}

function findCommand(words: readonly string[]): { command: Command; words: number } | undefined {
  for (const n of [2, 1]) {
    const name = words.slice(0, n).join(" ");
    const command = commands.find((c) => c.name === name);
    if (command && words.length >= n) return { command, words: n };
  }
  return undefined;
}

export function usage(): string {
  const width = Math.max(...commands.map((c) => `${c.name} ${c.args ?? ""}`.length));
  const lines = commands.map((c) => `  ${`${c.name} ${c.args ?? ""}`.padEnd(width)}  ${c.summary}`);
  return [
    `aideazz ${VERSION}: AI chat agents for Telegram, WhatsApp and the web on one small VM`,
    "",
    "Usage: aideazz <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Options:",
    ...GLOBAL_OPTION_HELP.map((l) => `  ${l}`),
    "  -V, --version   print the version",
    "",
    "Run 'aideazz help <command>' for a command's options.",
    "",
  ].join("\n");
}

export function commandUsage(command: Command): string {
  return [
    `Usage: aideazz ${command.name}${command.args ? ` ${command.args}` : ""} [options]`,
    "",
    command.summary,
    "",
    ...(command.details ? [...command.details, ""] : []),
    "Options:",
    ...[...(command.optionHelp ?? []), ...GLOBAL_OPTION_HELP].map((l) => `  ${l}`),
    "",
  ].join("\n");
}

function usageError(deps: CliDeps, err: UsageError): number {
  deps.stderr(`aideazz: ${err.message}\n`);
  deps.stderr(err.command ? commandUsage(err.command) : err.usage ?? usage());
  return 2;
}

function parseCommandArgs(command: Command, args: string[], words: number) {
  // Drop the command words themselves; everything else is options and the command's positionals.
  const rest = [...args];
  for (const word of command.name.split(" ").slice(0, words)) rest.splice(rest.indexOf(word), 1);
  try {
    return parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    // parseArgs errors are one clear line ("Unknown option '--x'"): keep only that line.
    throw new UsageError((err as Error).message.split("\n")[0]!.replace(/\. To specify a positional.*$/, ""), command);
  }
}

/** Values of the environment variables whose names look like credentials (`*TOKEN*`, `*KEY*`, …). */
function credentialLike(env: CliDeps["env"]): string[] {
  return Object.entries(env).flatMap(([k, v]) => (v !== undefined && /TOKEN|SECRET|KEY|PASSWORD/i.test(k) ? [v] : []));
}

/** Runs the CLI on `args` and returns the exit code (0 ok, 1 failure, 2 usage error). */
export function runCli(args: string[], deps: CliDeps): Promise<number> {
  // Last line of defence for what a command prints, its errors included: before a config is read, the values of
  // variables named like credentials; once one is read, its secrets too, whatever their variables' names.
  return dispatch(args, redactOutput(deps, credentialLike(deps.env)));
}

async function dispatch(args: string[], deps: CliDeps): Promise<number> {
  try {
    if (args.length === 0) throw new UsageError("missing command");
    const lenient = parseArgs({ args, options: GLOBAL_OPTIONS, strict: false, allowPositionals: true });
    // Alone or beside global options (`--config x.json` kept on the line from the start command).
    if (lenient.positionals.length === 0) {
      if (lenient.values["version"] === true || lenient.values["V"] === true) {
        return await versionCommand.run({ values: {}, positionals: [], deps });
      }
      if (lenient.values["help"] === true) {
        deps.stdout(usage());
        return 0;
      }
    }
    const found = findCommand(lenient.positionals);
    if (!found) {
      const first = lenient.positionals[0];
      const group = groupOf(first);
      if (first === undefined) {
        // Only options: a global one (`aideazz --config x.json`) still needs a command after it.
        const option = /^--([^=]+)/.exec(args[0]!)?.[1];
        throw new UsageError(option !== undefined && option in GLOBAL_OPTIONS ? "missing command" : `unknown option "${args[0]}"`);
      }
      if (group.length > 0) {
        if (lenient.values["help"] === true && lenient.positionals.length === 1) {
          deps.stdout(groupUsage(first, group));
          return 0;
        }
        const names = group.map((c) => c.name).join(", ");
        throw new UsageError(`"${first}" needs a subcommand: ${names}`, undefined, groupUsage(first, group));
      }
      throw new UsageError(`unknown command "${first}"`);
    }
    const { command, words } = found;
    const parsed = parseCommandArgs(command, args, words);
    const values = parsed.values as Record<string, string | boolean | undefined>;
    const positionals = parsed.positionals;
    if (values["help"] === true) {
      deps.stdout(commandUsage(command));
      return 0;
    }
    const { min, max } = command.positionals ?? { min: 0, max: 0 };
    if (positionals.length < min) throw new UsageError(`${command.name}: missing ${command.args ?? "argument"}`, command);
    if (positionals.length > max) throw new UsageError(`${command.name}: unexpected argument "${positionals[max]}"`, command);
    return await command.run({ values, positionals, deps });
  } catch (err) {
    if (err instanceof UsageError) return usageError(deps, err);
    if (err instanceof ConfigError) {
      deps.stderr(`aideazz: invalid config\n${err.issues.map((i) => `  ${i.path}: ${i.message}\n`).join("")}`);
      return 1;
    }
    if ((err as Error).name === "NotCapable") {
      // The compiled binary carries its permissions (scripts/build-binary.ts): no flag widens them at run time.
      const what = (err as Error).message.replace(/, run again with the --allow-\w+ flag$/, "");
      deps.stderr(
        `aideazz: ${what}: this binary may write only in the folders it was built for (${DEFAULT_WRITE_PATHS.join(", ")}, ` +
          "unless its build listed others with scripts/build-binary.ts --write-path)\n",
      );
      return 1;
    }
    deps.stderr(`aideazz: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}
