/**
 * V8 flags every agent runs with: baked into the binary by scripts/build-binary.ts; `npm start` and `aideazz up`
 * pass them too, and the system benchmark runs its agents with them. A young generation of at most 1 MiB per
 * semi-space (V8's default grows to 16) keeps an idle agent at 77–79 MB instead of 84–87 MB (2 MiB: 79–81 MB) at
 * the same throughput and latency. V8's `--optimize-for-size` would hold a loaded agent near 140 MB instead of 150–200 MB, but costs
 * ≈ 40 % of the peak throughput (measured with `npm run bench -- system`): not worth it on a 24 GB VM.
 *
 * @module
 */
export const V8_FLAGS = ["--max-semi-space-size=1"] as const;
