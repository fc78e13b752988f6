/**
 * Starts libSQL's server (`sqld`, installed by scripts/sqld/install.sh) on a fresh database in a temporary directory:
 * the scale-out path's store, reached over HTTP by the same @libsql/client code as a local file.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { freePort } from "./ports.ts";
import { tempDir } from "./tmp.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
export const SQLD_PATH = join(REPO_ROOT, ".cache/sqld/sqld");

/** True when install.sh has put sqld in place. */
export function sqldAvailable(): boolean {
  return existsSync(SQLD_PATH);
}

/** Run the scale-out tests when sqld is installed, and always on CI (where its absence must fail, not skip). */
export const runSqldTests = sqldAvailable() || process.env.CI === "true";

export interface Sqld {
  /** The store URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** Kills the server (SIGKILL: a crash or a lost host); its database stays for `start`. */
  kill(): Promise<void>;
  /** Stops (true) or continues (false) the server process: a hung host, whose connections stay open unanswered. */
  pause(paused: boolean): void;
  /** Starts it again on the same port and database; resolves once it answers. */
  start(): Promise<void>;
  /** Stops the server and removes its database. */
  stop(): Promise<void>;
}

/** One sqld process: resolves once it answers as itself, or with its output when it exited or timed out. */
async function launch(dbPath: string, port: number, deadline: number, authJwtKey: string | undefined) {
  const child: ChildProcess = spawn(
    SQLD_PATH,
    ["--db-path", dbPath, "--http-listen-addr", `127.0.0.1:${port}`, "--no-welcome"],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, RUST_LOG: "error", ...(authJwtKey ? { SQLD_AUTH_JWT_KEY: authJwtKey } : {}) },
    },
  );
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => void (output = (output + chunk.toString("utf8")).slice(-4_000)));
  let ended = false;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve(void (ended = true)));
    child.once("error", (err) => resolve(void ((ended = true), (output += `\nspawn failed: ${err.message}`))));
  });
  // Killed outright: a graceful stop waits for idle keep-alive connections (Deno's fetch keeps them).
  const kill = async () => {
    if (!ended) child.kill("SIGKILL");
    await exited;
  };
  // Another server may have taken the port picked a moment before: only sqld's own `/version` counts.
  while (!ended && Date.now() < deadline) {
    const version = await fetch(`http://127.0.0.1:${port}/version`).then((r) => r.text(), () => "");
    // process.kill, not child.kill: under Deno a child once sent SIGSTOP is not sent SIGCONT by child.kill (false).
    // Only while it runs: a pid is reused once the child is gone, and an ESRCH would hide a test's own failure.
    const pause = (paused: boolean) => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, paused ? "SIGSTOP" : "SIGCONT");
    };
    if (version.startsWith("sqld ") && !ended) return { kill, pause };
    await new Promise((r) => setTimeout(r, 20));
  }
  await kill();
  return { output };
}

/**
 * Spawns sqld on 127.0.0.1 on a new database (again on another port if the one picked was taken meanwhile).
 * `authJwtKey`: an Ed25519 public key (URL-safe base64): the server then takes only requests with a JWT it signed.
 */
export async function startSqld(readyTimeoutMs = 20_000, authJwtKey?: string): Promise<Sqld> {
  if (!sqldAvailable()) throw new Error(`sqld is not installed at ${SQLD_PATH}: run \`bash scripts/sqld/install.sh\``);
  const deadline = Date.now() + readyTimeoutMs;
  let output = "";
  for (let attempt = 1; attempt <= 3 && Date.now() < deadline; attempt++) {
    const tmp = await tempDir("aideazz-sqld-");
    const dbPath = join(tmp.dir, "data.sqld");
    const port = await freePort();
    let running = await launch(dbPath, port, deadline, authJwtKey);
    if (!("kill" in running)) {
      output = running.output;
      await tmp.cleanup();
      continue;
    }
    const kill = async () => {
      if ("kill" in running) await running.kill();
    };
    const pause = (paused: boolean) => {
      if ("kill" in running) running.pause?.(paused);
    };
    return {
      url: `http://127.0.0.1:${port}`,
      kill,
      pause,
      async start() {
        await kill();
        running = await launch(dbPath, port, Date.now() + readyTimeoutMs, authJwtKey);
        if (!("kill" in running)) throw new Error(`sqld did not start again; its output ends with:\n${running.output}`);
      },
      stop: async () => (await kill(), await tmp.cleanup()),
    };
  }
  throw new Error(`sqld did not start; its output ends with:\n${output}`);
}
