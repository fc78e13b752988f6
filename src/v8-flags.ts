/**
 * V8 flags every agent runs with: baked into the binary by scripts/build-binary.ts; `npm start` and `aideazz up`
 * pass them too, and the system benchmark runs its agents with them (measured with `npm run bench -- system`):
 * - a young generation of at most 1 MiB per semi-space (V8's default grows to 16): an idle agent at 77–79 MB
 *   instead of 84–87 MB (2 MiB: 79–81 MB) before the compaction below, at the same throughput and latency;
 * - the old generation's limit grows by 20 % after a full GC instead of V8's dynamic 10–100 %: agents at 1,000
 *   webhooks/s peak at 119–151 MB instead of 136–191 MB, at the same replies/s and CPU per reply;
 * - `gc` exposed: an agent compacts its heap 2 s after it starts (`compactHeap` in src/platform.ts), and idles at
 *   72–75 MB from then on instead of 75–81 MB (V8's own memory reducer gives most of that back only 15–40 s later),
 *   and again when it is quiet after a burst (src/agents/memory.ts).
 *
 * `--optimize-for-size` would also hold a loaded agent near 140 MB but costs ≈ 40 % of the peak throughput, and
 * `--memory-saver-mode` 1–2 %: not worth it on a 24 GB VM.
 *
 * @module
 */
export const V8_FLAGS = ["--max-semi-space-size=1", "--heap-growing-percent=20", "--expose-gc"] as const;

/** The flags as one Deno argument (`deno run` and `deno compile`). */
export const V8_FLAGS_ARG = `--v8-flags=${V8_FLAGS.join(",")}`;
