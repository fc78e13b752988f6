// One measurement of `npm run bench -- store` (bench/store/main.ts), run under Deno or Node: what one libsql call
// leaves behind outside the V8 heap. `node calls.mjs OP N` or `deno run -A --v8-flags=--expose-gc calls.mjs OP N`;
// prints {"op", "calls", "bytesPerCall"}: RSS growth over N calls after a warm-up of N calls, a full GC after each.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import Database from "libsql";

const [op, n = "100000"] = process.argv.slice(2);
const calls = Number(n);
const dir = mkdtempSync(join(tmpdir(), "aideazz-store-bench-"));
const db = new Database(join(dir, "calls.db"));
db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y')");
const select = db.prepare("SELECT a, b FROM t WHERE a >= ? ORDER BY a");
const update = db.prepare("UPDATE t SET b = b WHERE a = ?");
const ops = {
  prepare: () => db.prepare("SELECT a, b FROM t WHERE a = ?"),
  all: () => select.all(1),
  get: () => select.get(1),
  run: () => update.run(1),
};
const call = ops[op];
if (!call) throw new Error(`unknown op ${op}: one of ${Object.keys(ops).join(", ")}`);
const settle = async () => {
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 50));
  globalThis.gc();
};
for (let i = 0; i < calls; i++) call();
await settle();
const before = process.memoryUsage().rss;
for (let i = 0; i < calls; i++) call();
await settle();
const bytesPerCall = (process.memoryUsage().rss - before) / calls;
db.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ op, calls, bytesPerCall: Math.round(bytesPerCall * 10) / 10 }));
