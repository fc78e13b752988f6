// Runs a benchmark suite's main module as `npm run bench -- <suite>` (or `npm run soak`) does, for tests of its
// command line.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./cli.ts";

const deno = join(repoRoot, "node_modules/.bin/deno");

/** Runs bench/<suite>/main.ts with `args`; stdout and stderr together. Stopped after `killAfterMs`. */
export function runBench(
  suite: string,
  args: string[],
  killAfterMs = 25_000,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(deno, ["run", "-A", `bench/${suite}/main.ts`, ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    const timer = setTimeout(() => child.kill("SIGTERM"), killAfterMs); // a safety net: SIGTERM lets it stop its agents
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
