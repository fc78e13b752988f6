// Starting test workers as separate OS processes (Deno: the production runtime; TypeScript runs directly).
import { type ChildProcess, spawn } from "node:child_process";

export const DENO = "node_modules/.bin/deno";

export interface Worker {
  child: ChildProcess;
  /** Resolves with the exit code (or the signal name) and everything the worker printed. */
  done: Promise<{ code: number | string; stdout: string; stderr: string }>;
  /** Resolves once the worker printed a line `ready` (workers that take signals print it once they do). */
  ready: Promise<void>;
}

export function startWorker(
  script: string,
  args: (string | number)[],
  env: Record<string, string> = {},
): Worker {
  const child = spawn(DENO, ["run", "-A", script, ...args.map(String)], {
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout!.on("data", (d) => {
    stdout += d;
    if (/^ready$/m.test(stdout)) onReady();
  });
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number | string; stdout: string; stderr: string }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code: code ?? signal ?? "unknown", stdout, stderr }));
  });
  return { child, done, ready };
}

/** The last JSON line a worker printed. */
export function lastJson<T>(stdout: string): T {
  const line = stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (line === undefined) throw new Error(`worker printed no JSON: ${stdout.slice(-500)}`);
  return JSON.parse(line) as T;
}
