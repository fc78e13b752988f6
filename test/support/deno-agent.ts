// Real agents under Deno (the production runtime: Deno.serve, not the Node adapter vitest's in-process agents use)
// and raw TCP clients that behave as a hostile internet client would.
import { Socket } from "node:net";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Child, spawnAideazz, waitForStatus } from "./cli.ts";
import { freePort } from "./ports.ts";

export interface DenoAgent {
  child: Child;
  port: number;
  pid: number;
  /** Resolves with the exit code (null: killed by a signal). */
  exited: Promise<number | null>;
}

/** Writes a config with one channel agent (`agent`, port filled in) and starts `aideazz agent <name>` under Deno. */
export async function startDenoAgent(
  dir: string,
  agent: Record<string, unknown> & { name: string },
  env: Record<string, string> = {},
): Promise<DenoAgent> {
  const port = await freePort();
  const config = join(dir, `${agent.name}.json`);
  await writeFile(
    config,
    JSON.stringify({
      store: { url: `file:${join(dir, `${agent.name}.db`)}` },
      roles: { support: { kind: "support", systemPrompt: "Be nice.", greeting: "Hi" } },
      agents: [{ role: "support", ...agent, port }],
      router: { deadlineMs: 20_000, providers: {}, chain: [] },
    }),
  );
  const child = spawnAideazz(["agent", agent.name, "--config", config], { env });
  await waitForStatus(`http://127.0.0.1:${port}/health`, 200, 60_000);
  return { child, port, pid: child.proc.pid!, exited: child.exited };
}

/** Connects a raw TCP socket to the agent and resolves once connected. */
export function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    s.on("error", () => {}); // a reset by the server is an expected outcome here
    s.once("connect", () => resolve(s));
    s.connect(port, "127.0.0.1");
    setTimeout(() => reject(new Error("connect timed out")), 10_000).unref();
  });
}

/** Writes `data` and resolves once the kernel has taken it. */
export function write(s: Socket, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => s.write(data, () => resolve()));
}

/** Resolves with the exit code, or "still running" when the process has not exited within `ms`. */
export function exitWithin(agent: DenoAgent, ms: number): Promise<number | null | "still running"> {
  return Promise.race([
    agent.exited,
    new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), ms).unref()),
  ]);
}
