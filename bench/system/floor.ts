// The memory floor under an agent, for the system benchmark's RSS report: `deno run -A floor.ts MODE DB` (with the
// production V8 flags) stays alive doing nothing after loading what MODE names; the benchmark reads its VmRSS.
//   bare    — the Deno runtime alone
//   store   — + @libsql/client: a store opened and migrated
//   imports — + every agent kind's code (each loader of src/agents/mod.ts: hono, grammY, zod schemas, router),
//             nothing started; a running agent loads only its own kind
import process from "node:process";

const [mode, db] = process.argv.slice(2);
if (mode === "store" || mode === "imports") {
  const { migrate, openStore } = await import("../../src/store/mod.ts");
  const store = await openStore({ url: `file:${db}` });
  await migrate(store.client);
}
if (mode === "imports") {
  const { agentKinds } = await import("../../src/agents/mod.ts");
  await Promise.all(Object.values(agentKinds).map((load) => load()));
}
// Compacted once and malloc's free pages given back, as an agent's heap is 2 s after its start and its native heap
// by its trims (bare Deno has nothing to give back).
if (mode !== "bare") {
  const { compactHeap, trimNativeHeap } = await import("../../src/platform.ts");
  compactHeap();
  await trimNativeHeap();
}
process.stdout.write("ready\n");
setInterval(() => {}, 60_000);
