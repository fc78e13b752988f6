/**
 * Starts libSQL's server (`sqld`, installed by scripts/sqld/install.sh) on a fresh database in a temporary directory:
 * the scale-out path's store, reached over HTTP by the same @libsql/client code as a local file.
 *
 * @module
 */
import { spawn } from "node:child_process";
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

/**
 * Spawns sqld on 127.0.0.1 and resolves once it answers as itself (`/version`; another server may have taken the port
 * picked a moment before, and then sqld exits and is started again on another).
 */
export async function startSqld(readyTimeoutMs = 20_000): Promise<Sqld> {
  if (!sqldAvailable()) throw new Error(`sqld is not installed at ${SQLD_PATH}: run \`bash scripts/sqld/install.sh\``);
  const deadline = Date.now() + readyTimeoutMs;
  let output = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const tmp = await tempDir("aideazz-sqld-");
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(
      SQLD_PATH,
      ["--db-path", join(tmp.dir, "data.sqld"), "--http-listen-addr", `127.0.0.1:${port}`, "--no-welcome"],
      { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: "error" } },
    );
    output = "";
    child.stderr.on("data", (chunk: Buffer) => void (output = (output + chunk.toString("utf8")).slice(-4_000)));
    let ended = false;
    const exited = new Promise<void>((resolve) => {
      child.once("exit", () => resolve(void (ended = true)));
      child.once("error", (err) => resolve(void ((ended = true), (output += `\nspawn failed: ${err.message}`))));
    });
    // Killed outright: its database is thrown away, and a graceful stop waits for idle keep-alive connections (Deno's
    // fetch keeps them).
    const stop = async () => {
      if (!ended) {
        child.kill("SIGKILL");
        await exited;
      }
      await tmp.cleanup();
    };
    while (!ended && Date.now() < deadline) {
      const version = await fetch(`${url}/version`).then((r) => r.text(), () => "");
      if (version.startsWith("sqld ") && !ended) return { url, stop };
      await new Promise((r) => setTimeout(r, 20));
    }
    await stop();
    if (Date.now() >= deadline) break;
  }
  throw new Error(`sqld did not start; its output ends with:\n${output}`);
}
