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
  /** Stops the server and removes its database. */
  stop(): Promise<void>;
}

/** Spawns sqld on 127.0.0.1 and resolves once `/health` answers 200. */
export async function startSqld(readyTimeoutMs = 20_000): Promise<Sqld> {
  if (!sqldAvailable()) throw new Error(`sqld is not installed at ${SQLD_PATH}: run \`bash scripts/sqld/install.sh\``);
  const tmp = await tempDir("aideazz-sqld-");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    SQLD_PATH,
    ["--db-path", join(tmp.dir, "data.sqld"), "--http-listen-addr", `127.0.0.1:${port}`, "--no-welcome"],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: "error" } },
  );
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => void (output = (output + chunk.toString("utf8")).slice(-4_000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // Killed outright: its database is thrown away, and a graceful stop waits for idle keep-alive connections (Deno's
  // fetch keeps them).
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    await tmp.cleanup();
  };
  for (const deadline = Date.now() + readyTimeoutMs; Date.now() < deadline;) {
    if (child.exitCode !== null) break;
    const status = await fetch(`${url}/health`).then((r) => (r.body?.cancel(), r.status), () => undefined);
    if (status === 200) return { url, stop };
    await new Promise((r) => setTimeout(r, 20));
  }
  await stop();
  throw new Error(`sqld on ${url} did not become healthy; its output ends with:\n${output}`);
}
