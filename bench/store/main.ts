// `npm run bench -- store [--calls N] [--runs N] [--out PATH]`
//
// What one libsql call leaves behind outside the V8 heap, under Deno (the production runtime) and under Node:
// RSS growth per call after a warm-up, with full GCs (bench/store/calls.mjs, one fresh process per measurement,
// the median of `--runs`). Under Deno a call that creates a native object (`prepare()`, the row iterator behind
// `all()`) leaks; `get()` and `run()` do not — why src/store/writer.ts caches statements and reads one-row
// statements with `get()`. Prints a table and writes bench/results/store.json.
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import process from "node:process";
import { defineBench, readBenchArgs } from "../args.ts";
import { denoBin, repoRoot } from "../system/cluster.ts";

const STORE = defineBench({
  suite: "store",
  summary: "RSS growth per libsql call outside the V8 heap, under Deno and Node",
  options: {
    calls: { type: "count", help: "calls per measurement, after as many warm-up calls (default 200000)" },
    runs: { type: "count", help: "fresh processes per runtime and call; the median is reported (default 3)" },
    out: { type: "string", arg: "PATH", help: "result file (default bench/results/store.json)" },
  },
});
const values = readBenchArgs(STORE, process.argv.slice(2));
const calls = values.calls ?? 200_000;
const runs = values.runs ?? 3;
const out = values.out ?? `${repoRoot}bench/results/store.json`;
const script = `${repoRoot}bench/store/calls.mjs`;
const runtimes = {
  deno: [denoBin, ["run", "-A", "--v8-flags=--expose-gc", script]],
  node: ["node", ["--expose-gc", script]],
} as const;
const ops = ["prepare", "all", "get", "run"] as const;

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<string, Record<string, number>> = {};
for (const [runtime, [cmd, args]] of Object.entries(runtimes)) {
  results[runtime] = {};
  for (const op of ops) {
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = spawnSync(cmd, [...args, op, String(calls)], { cwd: repoRoot, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${runtime} ${op} failed: ${r.stderr}`);
      samples.push((JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { bytesPerCall: number }).bytesPerCall);
    }
    results[runtime]![op] = median(samples);
  }
}

console.log(`RSS growth per libsql call, bytes (median of ${runs} runs of ${calls.toLocaleString("en")} calls)`);
console.log(`| runtime | ${ops.join(" | ")} |\n|---|${ops.map(() => "---").join("|")}|`);
for (const [runtime, byOp] of Object.entries(results)) {
  console.log(`| ${runtime} | ${ops.map((op) => byOp[op]!.toFixed(1)).join(" | ")} |`);
}
await writeFile(out, JSON.stringify({ at: new Date().toISOString(), calls, runs, bytes_per_call: results }, null, 2) + "\n");
console.log(`wrote ${out}`);
