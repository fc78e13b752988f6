/**
 * The benches' options, declared once per suite and validated before anything starts. Unchecked, an unknown flag
 * or `--help` died with "Uncaught (in promise) TypeError: Unknown option" and a stack trace, and a typo such as
 * `--seconds 1O` ran a whole benchmark at NaN. The rules match bench/system/args.ts and bench/soak/args.ts:
 * every error names its flag and ends the run with exit 2; `--help` prints the options and exits 0.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";

/** One option: what it takes, the placeholder shown in the usage (`arg`), and one line of help. */
export type BenchOption =
  | { type: "boolean"; help: string }
  | { type: "string"; arg: string; help: string }
  /** A whole number of at least 1 (calls, runs). */
  | { type: "count"; arg?: string; help: string }
  /** A whole number, 0 included. */
  | { type: "whole"; arg?: string; help: string }
  /** A decimal number above 0 (seconds, rates, intervals). */
  | { type: "positive"; arg?: string; help: string }
  /** A comma-separated list, each entry one of `of`. */
  | { type: "list"; of: readonly string[]; arg?: string; help: string };

/** A suite's command line: its name (as in `npm run bench -- <suite>`), one line on what it does, its options. */
export interface BenchCli<T extends Record<string, BenchOption>> {
  suite: string;
  summary: string;
  options: T;
}

type ValueOf<O extends BenchOption> = O extends { type: "boolean" } ? boolean
  : O extends { type: "string" } ? string
  : O extends { type: "list" } ? string[]
  : number;

/** The options given (absent ones undefined: each suite picks its own defaults, some depending on `--quick`). */
export type BenchValues<T extends Record<string, BenchOption>> = { [K in keyof T]?: ValueOf<T[K]> };

/** Types a suite's declaration, so each option's `type` stays a literal and its value gets the right type. */
export function defineBench<T extends Record<string, BenchOption>>(cli: BenchCli<T>): BenchCli<T> {
  return cli;
}

const WHOLE = /^[0-9]+$/;
const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;

/** The `--help` text: one line per option, then `--help` itself. */
export function toUsage(cli: BenchCli<Record<string, BenchOption>>): string {
  const rows = Object.entries(cli.options).map(([name, o]) => {
    const arg = o.type === "boolean" ? "" : o.arg ?? (o.type === "list" ? "P,P,…" : "N");
    return [`--${name}${arg ? ` ${arg}` : ""}`, o.help] as const;
  });
  rows.push(["--help", "this text"]);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return [
    `usage: npm run bench -- ${cli.suite} [options]`,
    cli.summary,
    ...rows.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`),
  ].join("\n");
}

/**
 * The options in `argv` (without the program); `{ help: true }` for `--help`; or every error, each naming its flag.
 *
 * @example
 * ```ts
 * const cli = defineBench({ suite: "x", summary: "", options: { seconds: { type: "positive", help: "" } } });
 * parseBenchArgs(cli, ["--seconds", "1O"]);
 * // { error: '--seconds must be a number above 0, got "1O"' }
 * ```
 */
export function parseBenchArgs<T extends Record<string, BenchOption>>(
  cli: BenchCli<T>,
  argv: string[],
): { values: BenchValues<T> } | { help: true } | { error: string } {
  const config: Record<string, { type: "boolean" | "string" }> = { help: { type: "boolean" } };
  for (const [name, o] of Object.entries(cli.options)) config[name] = { type: o.type === "boolean" ? "boolean" : "string" };
  let given;
  try {
    // node:util's own messages already name the flag: "Unknown option '--bogus'", "Option '--runs <value>' argument missing".
    given = parseArgs({ args: argv, options: config }).values;
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  if (given.help === true) return { help: true };
  const values: Record<string, unknown> = {};
  const errors: string[] = [];
  for (const [name, o] of Object.entries(cli.options)) {
    const text = given[name];
    if (text === undefined) continue;
    if (typeof text !== "string") {
      values[name] = text;
      continue;
    }
    const problem = check(o, text);
    if (problem) errors.push(`--${name} ${problem}`);
    else if (o.type === "list") values[name] = text.split(",");
    else if (o.type === "string") values[name] = text;
    else values[name] = Number(text);
  }
  return errors.length > 0 ? { error: errors.join("\n") } : { values: values as BenchValues<T> };
}

/** What is wrong with `text` as the value of `o` (the message after the flag), or undefined when nothing is. */
function check(o: BenchOption, text: string): string | undefined {
  const got = `got ${JSON.stringify(text)}`;
  switch (o.type) {
    case "count":
      return WHOLE.test(text) && Number(text) >= 1 ? undefined : `must be a whole number of at least 1, ${got}`;
    case "whole":
      return WHOLE.test(text) ? undefined : `must be a whole number, ${got}`;
    case "positive":
      return DECIMAL.test(text) && Number(text) > 0 ? undefined : `must be a number above 0, ${got}`;
    case "list": {
      // An unknown entry would silently be ignored, and an empty list would run nothing.
      const unknown = text.split(",").filter((e) => !o.of.includes(e));
      if (text === "") return `takes ${o.of.join(",")}; got nothing`;
      return unknown.length > 0 ? `takes ${o.of.join(",")}; unknown: ${unknown.map((e) => e || '""').join(",")}` : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * What each suite's main.ts calls first: the validated options, or — for `--help` — the usage and exit 0, or —
 * for bad options — every error and exit 2, before the suite creates a directory or starts a process.
 *
 * @example
 * ```ts
 * const { seconds = 20 } = readBenchArgs(METRICS, process.argv.slice(2));
 * ```
 */
export function readBenchArgs<T extends Record<string, BenchOption>>(cli: BenchCli<T>, argv: string[]): BenchValues<T> {
  const r = parseBenchArgs(cli, argv);
  if ("help" in r) {
    console.log(toUsage(cli));
    process.exit(0);
  }
  if ("error" in r) {
    console.error(`${cli.suite} bench: ${r.error}\n(npm run bench -- ${cli.suite} --help for the options)`);
    process.exit(2);
  }
  return r.values;
}
