// Tests against the REAL llama.cpp llama-server (Debian sid build, private prefix) on tiny random-weight
// models that the project generates. Install with `bash scripts/llama/install.sh`.
import process from "node:process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeTinyLlamaGguf } from "../../scripts/llama/make-tiny-model.ts";
import {
  ensureModel,
  llamaAvailable,
  llamaMissingMessage,
  type LlamaServer,
  startLlamaServer,
  TINY_MODEL_PATH,
} from "../support/llama-server.ts";

const N_EMBD = 64; // the tiny model's embedding length
const JSON_HEADERS = { "content-type": "application/json" };
const MESSAGES = [{ role: "user", content: "hello world" }];

// In CI a missing install must fail loudly (startLlamaServer throws the install hint); locally we skip.
const runServerTests = llamaAvailable() || process.env.CI === "true";

interface ChatCompletion {
  choices: { message: { role: string; content: string }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}
interface ChatChunk {
  object: string;
  choices: { delta: { content?: string | null }; finish_reason: string | null }[];
}
interface Slot {
  id: number;
  is_processing: boolean;
}

function postJson(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  const init: RequestInit = { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body) };
  if (signal !== undefined) init.signal = signal;
  return fetch(url, init);
}

async function chat(server: LlamaServer, extra: Record<string, unknown>): Promise<ChatCompletion> {
  const res = await postJson(`${server.url}/v1/chat/completions`, { messages: MESSAGES, ...extra });
  expect(res.status).toBe(200);
  return await res.json() as ChatCompletion;
}

async function embed(server: LlamaServer, input: string | string[]): Promise<number[][]> {
  const res = await postJson(`${server.url}/v1/embeddings`, { input });
  expect(res.status).toBe(200);
  const body = await res.json() as { data: { index: number; embedding: number[] }[] };
  return body.data.sort((a, b) => a.index - b.index).map((d) => d.embedding);
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function processingSlots(server: LlamaServer): Promise<number> {
  const slots = await (await fetch(`${server.url}/slots`)).json() as Slot[];
  return slots.filter((s) => s.is_processing).length;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe("tiny GGUF model generator", () => {
  it("writes a GGUF v3 file and the same seed gives identical bytes", async () => {
    const a = encodeTinyLlamaGguf({ seed: 7 }).bytes;
    const view = new DataView(a.buffer, a.byteOffset);
    expect(new TextDecoder().decode(a.subarray(0, 4))).toBe("GGUF");
    expect(view.getUint32(4, true)).toBe(3);
    expect(a.length % 32).toBe(0);
    expect(a.length).toBeLessThan(2_000_000);
    expect(await sha256(encodeTinyLlamaGguf({ seed: 7 }).bytes)).toBe(await sha256(a));
    expect(await sha256(encodeTinyLlamaGguf({ seed: 8 }).bytes)).not.toBe(await sha256(a));
  });

  it("rejects a head count that does not divide the embedding length", () => {
    expect(() => encodeTinyLlamaGguf({ embeddingLength: 64, headCount: 3 })).toThrow(/headCount 3/);
  });
});

if (!runServerTests) {
  it.skip(`llama-server tests skipped: ${llamaMissingMessage()} (with CI=true this fails instead)`, () => {});
}

describe.runIf(runServerTests)("llama-server chat (real server, tiny random model)", () => {
  let server: LlamaServer;
  beforeAll(async () => {
    server = await startLlamaServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("answers /v1/chat/completions with a message and token usage", async () => {
    const body = await chat(server, { max_tokens: 8, temperature: 0, ignore_eos: true });
    const choice = body.choices[0];
    expect(choice?.message.role).toBe("assistant");
    expect(typeof choice?.message.content).toBe("string");
    expect(choice?.message.content.length).toBeGreaterThan(0);
    expect(choice?.finish_reason).toBe("length");
    expect(body.usage.completion_tokens).toBe(8);
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + 8);
  });

  it("greedy decoding gives the same text for the same request", async () => {
    const req = { max_tokens: 12, temperature: 0, ignore_eos: true };
    const first = await chat(server, req);
    const second = await chat(server, req);
    expect(second.choices[0]?.message.content).toBe(first.choices[0]?.message.content);
  });

  it("streams SSE `data:` chunks that end with [DONE] and add up to the non-streamed text", async () => {
    const req = { max_tokens: 10, temperature: 0, ignore_eos: true };
    const res = await postJson(`${server.url}/v1/chat/completions`, {
      messages: MESSAGES,
      ...req,
      stream: true,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split("\n\n").map((e) => e.trim()).filter((e) => e.length > 0);
    expect(events.every((e) => e.startsWith("data: "))).toBe(true);
    expect(events.at(-1)).toBe("data: [DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice("data: ".length)) as ChatChunk);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    expect(chunks.some((c) => c.choices[0]?.finish_reason === "length")).toBe(true);
    const streamed = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    const whole = await chat(server, req);
    expect(streamed).toBe(whole.choices[0]?.message.content);
  });

  const LONG = { messages: MESSAGES, max_tokens: 1800, temperature: 0, ignore_eos: true };

  it("aborting a streamed generation rejects the read promptly, the server cancels it, the next request succeeds", async () => {
    const controller = new AbortController();
    const res = await postJson(
      `${server.url}/v1/chat/completions`,
      { ...LONG, stream: true },
      controller.signal,
    );
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    if (reader === undefined) throw new Error("streamed response has no body");
    let bytes = 0;
    const drained = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
    })();
    drained.catch(() => {}); // asserted below; avoid an unhandled rejection in the meantime
    // 1800 tokens take seconds: it is generating once a slot is busy.
    expect(await waitUntil(async () => (await processingSlots(server)) === 1, 5_000)).toBe(true);
    const abortedAt = Date.now();
    controller.abort();
    await expect(drained).rejects.toThrow(/abort/i);
    expect(Date.now() - abortedAt).toBeLessThan(500);
    expect(bytes).toBeGreaterThan(0);

    // The server sees the closed connection on its next write, cancels the task (logs "cancel task", which
    // reaches us through its log thread and pipe a little later) and frees the slot.
    const cancelled = await waitUntil(
      async () => /cancel task/.test(server.logTail()) && (await processingSlots(server)) === 0,
      5_000,
    );
    expect(cancelled, `no cancellation within 5 s; server output:\n${server.logTail()}`).toBe(true);
    const next = await chat(server, { max_tokens: 4, temperature: 0, ignore_eos: true });
    expect(next.usage.completion_tokens).toBe(4);
  });

  // Keep this last in the block: llama-server 0.7 notices a dropped non-streamed request only on its
  // periodic connection check (seconds later), so the orphaned generation may still run; stop() ends it.
  it("aborting a non-streamed generation rejects promptly and the server keeps answering", async () => {
    const controller = new AbortController();
    const pending = postJson(`${server.url}/v1/chat/completions`, LONG, controller.signal);
    pending.catch(() => {}); // asserted below
    expect(await waitUntil(async () => (await processingSlots(server)) === 1, 5_000)).toBe(true);
    const abortedAt = Date.now();
    controller.abort();
    await expect(pending).rejects.toThrow(/abort/i);
    expect(Date.now() - abortedAt).toBeLessThan(500);

    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const next = await chat(server, { max_tokens: 4, temperature: 0, ignore_eos: true });
    expect(next.usage.completion_tokens).toBe(4);
  });
});

describe.runIf(runServerTests)("llama-server embeddings (real server, --embeddings)", () => {
  let server: LlamaServer;
  beforeAll(async () => {
    server = await startLlamaServer({ embeddings: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("returns one n_embd-long vector per input", async () => {
    const [vector] = await embed(server, "hello world");
    expect(vector).toHaveLength(N_EMBD);
    expect(vector?.every((x) => Number.isFinite(x))).toBe(true);
    expect(vector?.some((x) => x !== 0)).toBe(true);
  });

  it("gives identical vectors for identical text and different ones for different text", async () => {
    const [a] = await embed(server, "the same text");
    const [b] = await embed(server, "the same text");
    const [c, d] = await embed(server, ["a different text", "the same text"]);
    expect(b).toEqual(a);
    expect(d).toEqual(a);
    expect(c).not.toEqual(a);
  });
});

describe.runIf(runServerTests)("llama-server startup", () => {
  // The tiny model loads in a few ms, before the first poll can connect. A bigger generated model
  // (n_embd 1024, ~136 MB, ~0.4 s to load) keeps the server in its "Loading model" state long enough.
  const LOADING_MODEL = TINY_MODEL_PATH.replace(/tiny\.gguf$/, "loading-1024.gguf");

  it("answers /health with 503 while the model loads, then 200", async () => {
    const modelPath = await ensureModel(LOADING_MODEL, { embeddingLength: 1024, blockCount: 2 });
    const server = await startLlamaServer({ modelPath });
    try {
      const statuses = server.startupHealthStatuses;
      expect(statuses).toContain(503);
      expect(statuses.at(-1)).toBe(200);
      expect(statuses.indexOf(503)).toBeLessThan(statuses.indexOf(200));
    } finally {
      await server.stop();
    }
  });
});
