/**
 * V8 flags every agent runs with: baked into the binary by scripts/build-binary.ts; `npm start` and `aideazz up`
 * pass them too, and the system benchmark runs its agents with them. A young generation of at most 2 MiB per
 * semi-space (default 16) and V8's "optimize for size" heap growth keep an agent under 80 MB idle and near
 * 130 MB at full load, for ≈ 10–15 % more CPU per message (`npm run bench -- system`, phase "v8-defaults").
 *
 * @module
 */
export const V8_FLAGS = ["--max-semi-space-size=2", "--optimize-for-size"] as const;
