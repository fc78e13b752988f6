/**
 * Drives the CLI two ways: in-process with captured output (fast, for error paths), and as a real child process
 * under Deno (the production runtime) for lifecycle tests: signals, exit codes, concurrent starts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type CliDeps, runCli } from "../../src/cli/mod.ts";
import { diskSpace, fileSize, run, selfCommand, serve, sleep, spawn as spawnChild, writeTextFile } from "../../src/platform.ts";
import { V8_FLAGS_ARG } from "../../src/v8-flags.ts";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const denoBin = `${repoRoot}node_modules/.bin/deno`;
export const mainTs = `${repoRoot}src/main.ts`;

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process with captured stdout/stderr and the given environment. */
export async function cli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Captured> {
  let stdout = "";
  let stderr = "";
  const deps: CliDeps = {
    env: opts.env ?? {},
    cwd: opts.cwd ?? repoRoot,
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    readTextFile: (p) => readFile(p, "utf8"),
    now: Date.now,
    fetch: globalThis.fetch.bind(globalThis),
    serve,
    onStopSignal: () => () => {},
    rssBytes: () => 0,
    compactHeap: () => false,
    trimNativeHeap: () => Promise.resolve(false),
    pid: 1,
    spawn: spawnChild,
    run,
    selfCommand,
    writeTextFile,
    fileSize,
    diskSpace,
    sleep,
  };
  const code = await runCli(args, deps);
  return { code, stdout, stderr };
}

export interface Child {
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Starts `aideazz …` under Deno as a child process, with the V8 flags the binary bakes in. */
export function spawnAideazz(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Child {
  const proc = spawn(denoBin, ["run", "-A", V8_FLAGS_ARG, mainTs, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/root", NO_COLOR: "1", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout?.on("data", (d) => (out += d));
  proc.stderr?.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return { proc, output: () => out, exited };
}

/** Runs `aideazz …` to completion under Deno. */
export async function runAideazz(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Captured> {
  const child = spawnAideazz(args, opts);
  let stdout = "";
  let stderr = "";
  child.proc.stdout?.on("data", (d) => (stdout += d));
  child.proc.stderr?.on("data", (d) => (stderr += d));
  const code = await child.exited;
  return { code: code ?? -1, stdout, stderr };
}

/** Polls `url` until it answers `status` (or throws after `timeoutMs`). */
export async function waitForStatus(url: string, status: number, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status === status) return res;
      last = `HTTP ${res.status}: ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}
