/**
 * Starts the real llama.cpp `llama-server` (installed by scripts/llama/install.sh) on a tiny generated model.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { writeTinyLlamaGguf } from "../../scripts/llama/make-tiny-model.ts";
import { LLAMA_SERVER_ARGS } from "../../src/ops/units.ts";
import type { TinyModelOptions } from "../../scripts/llama/make-tiny-model.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Where the generated test model lives (git-ignored cache). */
export const TINY_MODEL_PATH = `${REPO_ROOT}.cache/llama/tiny.gguf`;

/** Same resolution as install.sh: AIDEAZZ_LLAMA_PREFIX, relative paths taken from the repo root. */
export function llamaPrefix(): string {
  const p = process.env.AIDEAZZ_LLAMA_PREFIX ?? ".cache/llama/prefix";
  return p.startsWith("/") ? p : `${REPO_ROOT}${p}`;
}

function wrapperPath(): string {
  return `${llamaPrefix()}/run-llama-server`;
}

/** True when install.sh has put llama-server into the prefix. */
export function llamaAvailable(): boolean {
  return existsSync(wrapperPath()) && existsSync(`${llamaPrefix()}/usr/bin/llama-server`);
}

/** Why llama-server cannot run here, for skip/fail messages. */
export function llamaMissingMessage(): string {
  return `llama-server is not installed in ${llamaPrefix()}: run \`bash scripts/llama/install.sh\``;
}

/**
 * Generates a model into `path` unless it is already there (generation is deterministic, so an existing
 * file with that name is the same model).
 */
export async function ensureModel(
  path: string = TINY_MODEL_PATH,
  opts: TinyModelOptions = {},
): Promise<string> {
  if (!existsSync(path)) await writeTinyLlamaGguf(path, opts);
  return path;
}

export interface StartLlamaServerOptions {
  /** Start with `--embeddings` (the tiny model uses mean pooling). */
  readonly embeddings?: boolean;
  /** Extra llama-server arguments. */
  readonly extraArgs?: readonly string[];
  /** Model file; default: the tiny model, generated if missing. */
  readonly modelPath?: string;
  /** Bound on the wait for `/health` 200. Default 30 s. */
  readonly readyTimeoutMs?: number;
}

export interface LlamaServer {
  readonly url: string;
  readonly port: number;
  /** `/health` status codes seen while waiting for readiness, in order (503 = model loading). */
  readonly startupHealthStatuses: readonly number[];
  /** The server's recent stdout/stderr lines. */
  logTail(): string;
  stop(): Promise<void>;
}

const LOG_LINES = 40;
const POLL_MS = 5;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error("Cannot pick a free loopback port"))));
    });
  });
}

async function healthStatus(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return undefined; // not listening yet
  }
}

/**
 * Spawns llama-server on 127.0.0.1 and resolves once `/health` answers 200.
 *
 * @example
 * const server = await startLlamaServer({ embeddings: true });
 * try { await fetch(`${server.url}/v1/embeddings`, …); } finally { await server.stop(); }
 */
export async function startLlamaServer(opts: StartLlamaServerOptions = {}): Promise<LlamaServer> {
  if (!llamaAvailable()) throw new Error(llamaMissingMessage());
  const model = opts.modelPath ?? await ensureModel();
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // One thread: the tiny model needs no more, and ggml's spinning threads crawl on a busy 2-core CI box. The
  // sidecar unit's own options too, so these tests show how the deployed server behaves.
  const args = ["-m", model, "--host", "127.0.0.1", "--port", String(port), "--no-webui", "--threads", "1"];
  args.push(...LLAMA_SERVER_ARGS);
  if (opts.embeddings === true) args.push("--embeddings");
  args.push(...(opts.extraArgs ?? []));

  const child = spawn(wrapperPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    lines.push(...chunk.toString("utf8").split("\n").filter((l) => l.length > 0));
    lines.splice(0, Math.max(0, lines.length - LOG_LINES));
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  let exitCode: number | string | null | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitCode = code ?? signal;
      resolve();
    });
    child.once("error", (err) => {
      lines.push(`spawn error: ${err.message}`);
      exitCode = "spawn-error";
      resolve();
    });
  });
  const logTail = () => lines.join("\n");
  const stop = async () => {
    if (exitCode !== undefined) return;
    child.kill("SIGTERM");
    const killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(killTimer);
  };

  const statuses: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (exitCode === undefined) {
    const status = await healthStatus(url);
    if (status !== undefined) statuses.push(status);
    if (status === 200) return { url, port, startupHealthStatuses: statuses, logTail, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `llama-server on ${url} was not healthy within ${timeoutMs} ms (last /health: ${
          status ?? "no answer"
        })` +
          `; its output ends with:\n${logTail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(
    `llama-server exited (${exitCode}) before it was healthy; its output ends with:\n${logTail()}`,
  );
}
