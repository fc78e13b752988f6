/**
 * The only module that touches the runtime: environment, arguments, exit, signals, serving HTTP, spawning
 * processes and giving memory back (V8's `gc`, glibc's `malloc_trim` through FFI). Everything else takes what it
 * needs from here (through `main.ts`), so the same source runs under Deno (production, `deno compile`) and Node
 * (vitest).
 *
 * @module
 */
import { V8_FLAGS_ARG } from "./v8-flags.ts";
import { spawn as nodeSpawn } from "node:child_process";
import type { Server as NodeServer, ServerResponse } from "node:http";
import process from "node:process";
import { mkdir, readFile, stat, statfs, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** Which runtime we are on; Deno serves HTTP natively and much faster than the Node adapter. */
export const runtime: "deno" | "node" = "Deno" in globalThis ? "deno" : "node";

/** The folders the release binary may write unless its build names others (scripts/build-binary.ts `--write-path`). */
export const DEFAULT_WRITE_PATHS: readonly string[] = ["/var/lib/aideazz", "/tmp", "/etc/systemd/system", "/etc/polkit-1/rules.d"];

/** CPU architecture as Deno names it (`aarch64`, `x86_64`). */
export const arch: string = process.arch === "arm64" ? "aarch64" : process.arch === "x64" ? "x86_64" : process.arch;

/** A running HTTP server. */
export interface Server {
  readonly port: number;
  readonly hostname: string;
  /** Stops listening and waits for in-flight requests to finish. */
  close(): Promise<void>;
}

/** What the server knows of a request besides the request (a Hono app reads it as `c.env`). */
export interface ConnInfo {
  /** The peer's IP address (a proxy's, when one is in front). */
  remoteAddr: string;
}

export interface ServeOptions {
  port: number;
  hostname: string;
  fetch: (req: Request, info: ConnInfo) => Response | Promise<Response>;
}

/** Starts an HTTP server; resolves once it listens (port 0 picks a free port). */
export async function serve(opts: ServeOptions): Promise<Server> {
  if (runtime === "deno") {
    const { promise, resolve } = Promise.withResolvers<number>();
    let server: Deno.HttpServer;
    try {
      server = Deno.serve(
        { port: opts.port, hostname: opts.hostname, onListen: (addr) => resolve(addr.port) },
        (req, info) => opts.fetch(req, { remoteAddr: info.remoteAddr.hostname }),
      );
    } catch (err) {
      throw listenError(opts, err);
    }
    const port = await promise;
    return { port, hostname: opts.hostname, close: () => server.shutdown() };
  }
  const { createAdaptorServer } = await import("@hono/node-server");
  const server = createAdaptorServer({
    fetch: (req, env) => opts.fetch(req, { remoteAddr: env.incoming.socket.remoteAddress ?? "" }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(listenError(opts, err)));
    server.listen(opts.port, opts.hostname, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;
  // Node keeps a closing server's keep-alive connections open and serves their next requests: a browser polling the
  // stopping agent would be answered by it instead of reconnecting. Like Deno's shutdown, each response in flight
  // closes its connection, and connections left idle are closed.
  const http = server as NodeServer;
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  http.prependListener("request", (_req, res) => {
    if (closing) res.setHeader("connection", "close");
    inFlight.add(res);
    res.once("close", () => {
      inFlight.delete(res);
      if (closing) http.closeIdleConnections();
    });
  });
  return {
    port,
    hostname: opts.hostname,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        http.close(() => resolve());
        http.closeIdleConnections();
        for (const res of inFlight) if (!res.headersSent) res.setHeader("connection", "close");
      }),
  };
}

/** Node's and Deno's "address already in use". */
function addressInUse(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown } | null | undefined;
  return e?.code === "EADDRINUSE" || e?.name === "AddrInUse";
}

/** Names the address a server could not listen on (the runtimes' own errors do not). */
function listenError(opts: ServeOptions, err: unknown): Error {
  const reason = addressInUse(err)
    ? "the port is in use by another process (check the agents' ports in the config)"
    : (err as { message?: string } | null)?.message ?? String(err);
  return new Error(`cannot listen on ${opts.hostname}:${opts.port}: ${reason}`, { cause: err });
}

/** Whether `serve` failed because another process listens on the address. */
export function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && addressInUse(err.cause);
}

/** The process environment as a plain, read-only record. */
export function env(): Readonly<Record<string, string | undefined>> {
  return { ...process.env };
}

/** Command-line arguments after the program (and, under Deno/Node, the script) name. */
export function args(): string[] {
  return process.argv.slice(2);
}

export function exit(code: number): never {
  process.exit(code);
}

export function pid(): number {
  return process.pid;
}

/** Resident set size of this process in bytes. */
export function rssBytes(): number {
  return process.memoryUsage.rss();
}

/** CPU time this process has used (user and system, every thread), in ms. */
export function cpuTimeMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * One full garbage collection that gives memory back (V8's "last resort": it compacts the heap and releases the
 * free pages), when the runtime exposes `gc` (the production V8 flags do). Blocks the thread for tens of ms.
 * Returns false, doing nothing, without `gc`.
 */
export function compactHeap(): boolean {
  const gc = (globalThis as { gc?: (options: object) => void }).gc;
  if (typeof gc !== "function") return false;
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  return true;
}

/** glibc's `malloc_trim(0)` on a thread of Deno's blocking pool; null where there is none to call. */
let mallocTrim: (() => Promise<number>) | null | undefined;

function openMallocTrim(): (() => Promise<number>) | null {
  if (runtime !== "deno" || process.platform !== "linux") return null;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true },
    });
    return () => libc.symbols.malloc_trim(0n);
  } catch {
    return null; // no glibc, or no FFI permission
  }
}

/**
 * Gives the pages that malloc holds free back to the system (glibc's `malloc_trim(0)`, called on another thread:
 * JavaScript goes on, though an allocation may wait while the trim holds its malloc arena, ~0.2 ms). Native memory
 * freed under load (HTTP buffers, SQLite's) otherwise stays counted in the process's RSS, as malloc keeps it for
 * reuse. Returns false, doing nothing, where there is no glibc to call (Node).
 * @example if (!(await trimNativeHeap())) log.info("no native heap trims here");
 */
export async function trimNativeHeap(): Promise<boolean> {
  mallocTrim ??= openMallocTrim();
  if (mallocTrim === null) return false;
  await mallocTrim();
  return true;
}

export type StopSignal = "SIGTERM" | "SIGINT";

/** Calls `handler` once on SIGTERM or SIGINT; returns a function that removes the listeners. */
export function onStopSignal(handler: (signal: StopSignal) => void): () => void {
  let fired = false;
  const listener = (signal: StopSignal) => {
    if (fired) return;
    fired = true;
    handler(signal);
  };
  const term = () => listener("SIGTERM");
  const int = () => listener("SIGINT");
  process.on("SIGTERM", term);
  process.on("SIGINT", int);
  return () => {
    process.off("SIGTERM", term);
    process.off("SIGINT", int);
  };
}

export function writeStdout(text: string): void {
  process.stdout.write(text);
}

export function writeStderr(text: string): void {
  process.stderr.write(text);
}

export function readTextFile(path: string): Promise<string> {
  return readFile(path, "utf8");
}

export function cwd(): string {
  return process.cwd();
}

export function writeTextFile(path: string, text: string): Promise<void> {
  return mkdir(dirname(path), { recursive: true }).then(() => writeFile(path, text, "utf8"));
}

/** Size of a file in bytes, or undefined when it does not exist. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

/** Free space (for an unprivileged user) and size of the file system holding `path`. */
export async function diskSpace(path: string): Promise<DiskSpace> {
  const s = await statfs(path);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type KillSignal = "SIGTERM" | "SIGINT" | "SIGKILL" | "SIGSTOP" | "SIGCONT";

/** Sends `signal` to process `pid`; false when there is no such process. */
export function kill(pid: number, signal: KillSignal): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

export interface SpawnOptions {
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  /** Called with each line the child writes to stdout or stderr (without the newline). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

export interface ExitStatus {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: string | null;
}

/** A running child process. */
export interface ChildHandle {
  readonly pid: number;
  /** Resolves when the process has exited and its output is drained. */
  readonly exited: Promise<ExitStatus>;
  kill(signal: KillSignal): boolean;
}

function lineSplitter(emit: (line: string) => void): { push(chunk: string): void; end(): void } {
  let rest = "";
  return {
    push(chunk) {
      rest += chunk;
      let i: number;
      while ((i = rest.indexOf("\n")) >= 0) {
        emit(rest.slice(0, i));
        rest = rest.slice(i + 1);
      }
    },
    end() {
      if (rest !== "") emit(rest);
      rest = "";
    },
  };
}

/**
 * Starts a child process (node:child_process works under Deno and Node alike). Spawn failures (no such binary)
 * surface as an exit with code 127, like a shell, so supervisors treat them as any other failed start.
 */
export function spawn(command: string, argv: readonly string[], opts: SpawnOptions = {}): ChildHandle {
  const child = nodeSpawn(command, [...argv], {
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: Object.fromEntries(Object.entries(opts.env ?? process.env).filter(([, v]) => v !== undefined)) as Record<string, string>,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const onLine = opts.onLine ?? (() => {});
  const out = lineSplitter((l) => onLine(l, "stdout"));
  const err = lineSplitter((l) => onLine(l, "stderr"));
  child.stdout.setEncoding("utf8").on("data", (d: string) => out.push(d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => err.push(d));
  const exited = new Promise<ExitStatus>((resolve) => {
    let spawnError: Error | undefined;
    child.once("error", (e) => {
      spawnError = e;
      if (child.pid === undefined) {
        onLine(`cannot start ${command}: ${e.message}`, "stderr");
        resolve({ code: 127, signal: null });
      }
    });
    child.once("close", (code, signal) => {
      out.end();
      err.end();
      resolve(spawnError && child.pid === undefined ? { code: 127, signal: null } : { code, signal });
    });
  });
  return {
    pid: child.pid ?? -1,
    exited,
    kill: (signal) => (child.pid === undefined ? false : kill(child.pid, signal)),
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and captures its output (e.g. `systemctl show …`). */
export async function run(command: string, argv: readonly string[], opts: { env?: Readonly<Record<string, string | undefined>> } = {}): Promise<RunResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const child = spawn(command, argv, { ...opts, onLine: (l, s) => (s === "stdout" ? stdout : stderr).push(l) });
  const status = await child.exited;
  return { code: status.code ?? 128, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
}

/**
 * How to run this program again (for `aideazz up`): the compiled binary itself, or the runtime with its entry
 * module (`deno run -A src/main.ts`, `node … main`).
 */
export function selfCommand(): string[] {
  if (runtime === "deno") {
    if (Deno.build.standalone) return [Deno.execPath()];
    const main = Deno.mainModule.startsWith("file:") ? fileURLToPath(Deno.mainModule) : Deno.mainModule;
    return [Deno.execPath(), "run", "-A", V8_FLAGS_ARG, main];
  }
  return [process.execPath, ...process.execArgv, ...(process.argv[1] ? [process.argv[1]] : [])];
}
