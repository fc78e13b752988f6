/**
 * Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (by default the llama.cpp sidecar started with
 * `--embeddings`), for the cache's semantic tier. A failure here only skips that tier: it never fails a turn.
 *
 * @module
 */
import { deadline } from "../deadline.ts";

export interface Embedder {
  readonly model: string;
  embed(text: string, signal?: AbortSignal): Promise<Float32Array>;
}

export interface EmbedderOptions {
  baseUrl: string;
  model: string;
  apiKey?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

interface EmbeddingsBody {
  data?: { embedding?: unknown }[];
}

export function createEmbedder(opts: EmbedderOptions): Embedder {
  const doFetch = opts.fetch ?? fetch;
  const url = `${opts.baseUrl.replace(/\/$/, "")}/embeddings`;
  return {
    model: opts.model,
    async embed(text, signal) {
      const timeout = deadline(opts.timeoutMs ?? 2_000, signal);
      try {
        const res = await doFetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
          },
          body: JSON.stringify({ model: opts.model, input: text }),
          signal: timeout.signal,
        });
        if (!res.ok) {
          await res.body?.cancel();
          throw new Error(`embeddings endpoint answered HTTP ${res.status}`);
        }
        const body = (await res.json()) as EmbeddingsBody;
        const vector = body.data?.[0]?.embedding;
        if (!Array.isArray(vector) || vector.length === 0 || !vector.every((x) => Number.isFinite(x))) {
          throw new Error("embeddings endpoint returned no vector");
        }
        // A zero vector has no direction: its cosine distance to anything is NULL, and it would match everything.
        if (vector.every((x) => x === 0)) throw new Error("embeddings endpoint returned a zero vector");
        return Float32Array.from(vector as number[]);
      } finally {
        timeout.clear();
      }
    },
  };
}

/** Raw little-endian float32 bytes: the form libSQL's vector functions read from a BLOB. */
export function toVectorBlob(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
