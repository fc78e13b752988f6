/**
 * Writes a tiny random-weight llama-architecture GGUF (v3) model for tests.
 *
 * The model is nonsense (seeded uniform random F32 weights) but structurally real: llama-server loads it,
 * generates text and serves embeddings, so tests exercise the real protocol in milliseconds.
 * GGUF layout (see ggml's docs/gguf.md): header, key/value metadata, tensor infos, padding to the alignment,
 * tensor data (each tensor aligned). Everything is little-endian.
 *
 * Usage: `deno run -A scripts/llama/make-tiny-model.ts OUT.gguf [--seed N] [--embd N] [--layers N]`
 *
 * @module
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import process from "node:process";
import { parseArgs } from "node:util";

/** Shape and seed of the generated model; every field has a small default. */
export interface TinyModelOptions {
  /** PRNG seed: the same options give byte-identical files. Default 42. */
  readonly seed?: number;
  /** n_embd. Default 64. */
  readonly embeddingLength?: number;
  /** Number of transformer blocks. Default 2. */
  readonly blockCount?: number;
  /** FFN hidden size. Default 4 × embeddingLength. */
  readonly feedForwardLength?: number;
  /** Attention heads (must divide embeddingLength). Default 4. */
  readonly headCount?: number;
  /** Training context length written to the metadata. Default 2048 (room for long generations). */
  readonly contextLength?: number;
}

/** What was written, for assertions (e.g. embedding vector length = embeddingLength). */
export interface TinyModelInfo {
  readonly path: string;
  readonly bytes: number;
  readonly vocabSize: number;
  readonly embeddingLength: number;
  readonly blockCount: number;
}

const ALIGNMENT = 32;
const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const GGML_TYPE_F32 = 0;

// GGUF metadata value types.
const T_UINT32 = 4;
const T_INT32 = 5;
const T_FLOAT32 = 6;
const T_BOOL = 7;
const T_STRING = 8;
const T_ARRAY = 9;

// llama.cpp token types.
const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_BYTE = 6;

const CHATML_TEMPLATE = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + " +
  "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

type MetaValue =
  | { readonly type: "u32"; readonly value: number }
  | { readonly type: "f32"; readonly value: number }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "strings"; readonly value: readonly string[] }
  | { readonly type: "f32s"; readonly value: readonly number[] }
  | { readonly type: "i32s"; readonly value: readonly number[] };

interface TensorSpec {
  readonly name: string;
  /** ggml order: ne[0] is the contiguous (row) dimension. */
  readonly dims: readonly number[];
  /** Uniform init half-width; 0 means "all ones" (norm weights). */
  readonly scale: number;
}

/** A SentencePiece-style vocab: <unk> <s> </s>, 256 byte-fallback tokens, then a few word pieces. */
function buildVocab(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(TOKEN_BYTE);
  }
  const pieces = ["▁", ..."abcdefghijklmnopqrstuvwxyz", "▁the", "▁a", "▁is", "▁hello", "▁world", "▁ok"];
  for (const p of pieces) {
    tokens.push(p);
    types.push(TOKEN_NORMAL);
  }
  // Scores rank merges for the SPM tokenizer: longer pieces score higher.
  const scores = tokens.map((t, i) => (types[i] === TOKEN_NORMAL ? -10 + [...t].length : 0));
  return { tokens, scores, types };
}

/** mulberry32: a tiny, fast, seedable PRNG returning floats in [0, 1). */
function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class ByteWriter {
  readonly #chunks: Uint8Array[] = [];
  readonly #enc = new TextEncoder();
  length = 0;

  #push(bytes: Uint8Array): void {
    this.#chunks.push(bytes);
    this.length += bytes.length;
  }
  #fixed(size: number, fill: (view: DataView) => void): void {
    const buf = new Uint8Array(size);
    fill(new DataView(buf.buffer));
    this.#push(buf);
  }
  u32(v: number): void {
    this.#fixed(4, (d) => d.setUint32(0, v, true));
  }
  i32(v: number): void {
    this.#fixed(4, (d) => d.setInt32(0, v, true));
  }
  u64(v: number): void {
    this.#fixed(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  f32(v: number): void {
    this.#fixed(4, (d) => d.setFloat32(0, v, true));
  }
  bool(v: boolean): void {
    this.#push(new Uint8Array([v ? 1 : 0]));
  }
  string(s: string): void {
    const bytes = this.#enc.encode(s);
    this.u64(bytes.length);
    this.#push(bytes);
  }
  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad > 0) this.#push(new Uint8Array(pad));
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.#chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

function writeMeta(w: ByteWriter, key: string, v: MetaValue): void {
  w.string(key);
  switch (v.type) {
    case "u32":
      w.u32(T_UINT32);
      w.u32(v.value);
      return;
    case "f32":
      w.u32(T_FLOAT32);
      w.f32(v.value);
      return;
    case "bool":
      w.u32(T_BOOL);
      w.bool(v.value);
      return;
    case "string":
      w.u32(T_STRING);
      w.string(v.value);
      return;
    case "strings":
      w.u32(T_ARRAY);
      w.u32(T_STRING);
      w.u64(v.value.length);
      for (const s of v.value) w.string(s);
      return;
    case "f32s":
      w.u32(T_ARRAY);
      w.u32(T_FLOAT32);
      w.u64(v.value.length);
      for (const x of v.value) w.f32(x);
      return;
    case "i32s":
      w.u32(T_ARRAY);
      w.u32(T_INT32);
      w.u64(v.value.length);
      for (const x of v.value) w.i32(x);
      return;
  }
}

function resolveOptions(opts: TinyModelOptions) {
  const embd = opts.embeddingLength ?? 64;
  const resolved = {
    seed: opts.seed ?? 42,
    embd,
    layers: opts.blockCount ?? 2,
    ff: opts.feedForwardLength ?? 4 * embd,
    heads: opts.headCount ?? 4,
    ctx: opts.contextLength ?? 2048,
  };
  for (const [name, v] of Object.entries(resolved)) {
    if (!Number.isInteger(v) || v < (name === "seed" ? 0 : 1)) {
      throw new RangeError(`Cannot build tiny model: option "${name}" must be a positive integer, got ${v}`);
    }
  }
  if (embd % resolved.heads !== 0 || (embd / resolved.heads) % 2 !== 0) {
    throw new RangeError(
      `Cannot build tiny model: headCount ${resolved.heads} must divide embeddingLength ${embd} into even head sizes`,
    );
  }
  return resolved;
}

function tensorSpecs(embd: number, ff: number, layers: number, vocab: number): TensorSpec[] {
  const s = (fanIn: number) => Math.sqrt(3 / fanIn); // uniform with variance 1/fanIn
  const specs: TensorSpec[] = [
    { name: "token_embd.weight", dims: [embd, vocab], scale: 1 },
    { name: "output_norm.weight", dims: [embd], scale: 0 },
    { name: "output.weight", dims: [embd, vocab], scale: s(embd) * 4 },
  ];
  for (let i = 0; i < layers; i++) {
    const b = `blk.${i}`;
    specs.push(
      { name: `${b}.attn_norm.weight`, dims: [embd], scale: 0 },
      { name: `${b}.attn_q.weight`, dims: [embd, embd], scale: s(embd) },
      { name: `${b}.attn_k.weight`, dims: [embd, embd], scale: s(embd) },
      { name: `${b}.attn_v.weight`, dims: [embd, embd], scale: s(embd) },
      { name: `${b}.attn_output.weight`, dims: [embd, embd], scale: s(embd) },
      { name: `${b}.ffn_norm.weight`, dims: [embd], scale: 0 },
      { name: `${b}.ffn_gate.weight`, dims: [embd, ff], scale: s(embd) },
      { name: `${b}.ffn_up.weight`, dims: [embd, ff], scale: s(embd) },
      { name: `${b}.ffn_down.weight`, dims: [ff, embd], scale: s(ff) },
    );
  }
  return specs;
}

const alignUp = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/**
 * Encodes the model in memory. Same options → identical bytes.
 *
 * @example
 * const bytes = encodeTinyLlamaGguf({ seed: 7 });
 */
export function encodeTinyLlamaGguf(
  opts: TinyModelOptions = {},
): { bytes: Uint8Array<ArrayBuffer>; vocabSize: number } {
  const o = resolveOptions(opts);
  const vocab = buildVocab();
  const specs = tensorSpecs(o.embd, o.ff, o.layers, vocab.tokens.length);

  const meta: [string, MetaValue][] = [
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: "aideazz-tiny-random" }],
    ["general.alignment", { type: "u32", value: ALIGNMENT }],
    ["llama.context_length", { type: "u32", value: o.ctx }],
    ["llama.embedding_length", { type: "u32", value: o.embd }],
    ["llama.block_count", { type: "u32", value: o.layers }],
    ["llama.feed_forward_length", { type: "u32", value: o.ff }],
    ["llama.attention.head_count", { type: "u32", value: o.heads }],
    ["llama.attention.head_count_kv", { type: "u32", value: o.heads }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
    ["llama.rope.dimension_count", { type: "u32", value: o.embd / o.heads }],
    ["llama.rope.freq_base", { type: "f32", value: 10000 }],
    ["llama.vocab_size", { type: "u32", value: vocab.tokens.length }],
    // Mean pooling (1), so `/v1/embeddings` works with plain `--embeddings` (pooling "none" is refused).
    ["llama.pooling_type", { type: "u32", value: 1 }],
    ["tokenizer.ggml.model", { type: "string", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "strings", value: vocab.tokens }],
    ["tokenizer.ggml.scores", { type: "f32s", value: vocab.scores }],
    ["tokenizer.ggml.token_type", { type: "i32s", value: vocab.types }],
    ["tokenizer.ggml.unknown_token_id", { type: "u32", value: 0 }],
    ["tokenizer.ggml.bos_token_id", { type: "u32", value: 1 }],
    ["tokenizer.ggml.eos_token_id", { type: "u32", value: 2 }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
    ["tokenizer.ggml.add_eos_token", { type: "bool", value: false }],
    ["tokenizer.chat_template", { type: "string", value: CHATML_TEMPLATE }],
  ];

  const head = new ByteWriter();
  head.u32(GGUF_MAGIC);
  head.u32(3);
  head.u64(specs.length);
  head.u64(meta.length);
  for (const [k, v] of meta) writeMeta(head, k, v);

  let dataSize = 0;
  const offsets: number[] = [];
  for (const t of specs) {
    offsets.push(dataSize);
    dataSize = alignUp(dataSize + 4 * t.dims.reduce((a, b) => a * b, 1));
  }
  specs.forEach((t, i) => {
    head.string(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(GGML_TYPE_F32);
    head.u64(offsets[i] ?? 0);
  });
  head.padTo(ALIGNMENT);

  const header = head.concat();
  const bytes = new Uint8Array(header.length + dataSize);
  bytes.set(header, 0);
  const view = new DataView(bytes.buffer, header.length);
  const random = createRandom(o.seed);
  specs.forEach((t, i) => {
    const count = t.dims.reduce((a, b) => a * b, 1);
    const base = offsets[i] ?? 0;
    for (let j = 0; j < count; j++) {
      const x = t.scale === 0 ? 1 : (random() * 2 - 1) * t.scale;
      view.setFloat32(base + 4 * j, x, true);
    }
  });
  return { bytes, vocabSize: vocab.tokens.length };
}

/**
 * Writes the model to `path` (parent folders created; written to a temp file then renamed, so concurrent
 * writers never expose a half-written model).
 *
 * @example
 * const info = await writeTinyLlamaGguf(".cache/llama/tiny.gguf", { seed: 42 });
 * info.embeddingLength; // 64
 */
export async function writeTinyLlamaGguf(path: string, opts: TinyModelOptions = {}): Promise<TinyModelInfo> {
  const o = resolveOptions(opts);
  const { bytes, vocabSize } = encodeTinyLlamaGguf(opts);
  const slash = path.lastIndexOf("/");
  if (slash > 0) await mkdir(path.slice(0, slash), { recursive: true });
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  return { path, bytes: bytes.length, vocabSize, embeddingLength: o.embd, blockCount: o.layers };
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      seed: { type: "string" },
      embd: { type: "string" },
      layers: { type: "string" },
      ff: { type: "string" },
      ctx: { type: "string" },
    },
  });
  const out = positionals[0];
  if (out === undefined || positionals.length > 1) {
    throw new Error(
      "Usage: make-tiny-model.ts OUT.gguf [--seed N] [--embd N] [--layers N] [--ff N] [--ctx N]",
    );
  }
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  const opts: {
    seed?: number;
    embeddingLength?: number;
    blockCount?: number;
    feedForwardLength?: number;
    contextLength?: number;
  } = {};
  const set = (key: keyof typeof opts, v: number | undefined) => {
    if (v !== undefined) opts[key] = v;
  };
  set("seed", num(values.seed));
  set("embeddingLength", num(values.embd));
  set("blockCount", num(values.layers));
  set("feedForwardLength", num(values.ff));
  set("contextLength", num(values.ctx));
  const info = await writeTinyLlamaGguf(out, opts);
  console.log(
    `wrote ${info.path}: ${info.bytes} bytes, vocab ${info.vocabSize}, n_embd ${info.embeddingLength}, ` +
      `${info.blockCount} layers`,
  );
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
