/**
 * The only module that touches the runtime: environment, arguments, exit, signals, serving HTTP and spawning
 * processes. Everything else takes what it needs from here (through `main.ts`), so the same source runs under
 * Deno (production, `deno compile`) and Node (vitest).
 *
 * @module
 */
import process from "node:process";
import { readFile } from "node:fs/promises";

/** Which runtime we are on; Deno serves HTTP natively and much faster than the Node adapter. */
export const runtime: "deno" | "node" = "Deno" in globalThis ? "deno" : "node";

/** CPU architecture as Deno names it (`aarch64`, `x86_64`). */
export const arch: string = process.arch === "arm64" ? "aarch64" : process.arch === "x64" ? "x86_64" : process.arch;

/** A running HTTP server. */
export interface Server {
  readonly port: number;
  readonly hostname: string;
  /** Stops listening and waits for in-flight requests to finish. */
  close(): Promise<void>;
}

export interface ServeOptions {
  port: number;
  hostname: string;
  fetch: (req: Request) => Response | Promise<Response>;
}

/** Starts an HTTP server; resolves once it listens (port 0 picks a free port). */
export async function serve(opts: ServeOptions): Promise<Server> {
  if (runtime === "deno") {
    const { promise, resolve } = Promise.withResolvers<number>();
    const server = Deno.serve(
      { port: opts.port, hostname: opts.hostname, onListen: (addr) => resolve(addr.port) },
      opts.fetch,
    );
    const port = await promise;
    return { port, hostname: opts.hostname, close: () => server.shutdown() };
  }
  const { createAdaptorServer } = await import("@hono/node-server");
  const server = createAdaptorServer({ fetch: opts.fetch });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.hostname, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;
  return {
    port,
    hostname: opts.hostname,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Node keeps idle keep-alive sockets open; close them so shutdown does not wait for the peer.
        if ("closeIdleConnections" in server) server.closeIdleConnections();
      }),
  };
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
