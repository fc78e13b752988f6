/**
 * The shape of a CLI command: a plain declaration with its options (node:util parseArgs format) and a `run`
 * that gets parsed values and the injected world, and returns an exit code.
 *
 * @module
 */
import type { ParseArgsConfig } from "node:util";
import type { ChildHandle, DiskSpace, RunResult, Server, ServeOptions, SpawnOptions, StopSignal } from "../platform.ts";

/** Everything a command may touch, built once in main.ts (tests pass their own). */
export interface CliDeps {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
  readTextFile(path: string): Promise<string>;
  now(): number;
  fetch: typeof fetch;
  serve(opts: ServeOptions): Promise<Server>;
  onStopSignal(handler: (signal: StopSignal) => void): () => void;
  rssBytes(): number;
  /** One heap compaction (platform.ts); false where the runtime cannot. */
  compactHeap(): boolean;
  /** Gives malloc's free pages back to the system (platform.ts); false where the runtime cannot. */
  trimNativeHeap(): Promise<boolean>;
  pid: number;
  /** Starts a child process (`aideazz up`). */
  spawn(command: string, args: readonly string[], opts: SpawnOptions): ChildHandle;
  /** Runs a command to completion (`systemctl`). */
  run(command: string, args: readonly string[]): Promise<RunResult>;
  /** How to run this program again: the binary, or the runtime and its entry module. */
  selfCommand(): string[];
  writeTextFile(path: string, text: string): Promise<void>;
  fileSize(path: string): Promise<number | undefined>;
  diskSpace(path: string): Promise<DiskSpace>;
  sleep(ms: number): Promise<void>;
}

export interface CommandInput {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  deps: CliDeps;
}

export interface Command {
  /** Words that select the command, e.g. "config check". */
  name: string;
  summary: string;
  /** Argument synopsis after the name, e.g. "<name>". */
  args?: string;
  /** How many positional arguments the command takes. */
  positionals?: { min: number; max: number };
  options?: NonNullable<ParseArgsConfig["options"]>;
  /** Lines of `aideazz help <command>` between the summary and the options. */
  details?: string[];
  /** Help lines for the command's own options. */
  optionHelp?: string[];
  run(input: CommandInput): Promise<number>;
}

/** A mistake in how the command was called: one line, the usage (the command's, or `usage` text), exit 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: Command, readonly usage?: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function defineCommand(command: Command): Command {
  return command;
}
