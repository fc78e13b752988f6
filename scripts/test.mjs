#!/usr/bin/env node
// `npm test`: type-check, lint, the vitest suite under Node (a few timing-sensitive files after the rest, on their own),
// the store tests and the HTTP server's close again under Deno, and a closing "N passed, N failed" line. Extra arguments are passed to vitest
// (e.g. `npm test -- test/bus`).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";

const deno = "node_modules/.bin/deno";
const vitest = "node_modules/vitest/vitest.mjs";
const extra = process.argv.slice(2);
const totals = { passed: 0, failed: 0, skipped: 0 };
let ok = true;

function step(title, cmd, args) {
  const started = Date.now();
  process.stdout.write(`\n== ${title}\n`);
  const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, NO_COLOR: "1" } });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`== ${title}: ${r.status === 0 ? "ok" : `FAILED (exit ${r.status ?? r.signal})`} in ${seconds} s\n`);
  if (r.status !== 0) ok = false;
  return r.status === 0;
}

function count(reportPath) {
  try {
    const report = JSON.parse(readFileSync(reportPath, "utf8"));
    totals.passed += report.numPassedTests;
    totals.failed += report.numFailedTests;
    totals.skipped += report.numPendingTests + report.numTodoTests;
  } catch {
    totals.failed += 1; // no report: the runner itself failed
  }
}

mkdirSync(".cache", { recursive: true });
step("type-check (deno check)", deno, ["check", "src/", "test/", "scripts/", "bench/"]);
step("lint (deno lint)", deno, ["lint"]);
// Run on their own after the rest: C7 (the -wal file bounded under a reader that is always present) needs its
// retention's non-waiting TRUNCATE attempts to land between the reader's transactions, which the suite's other files
// loading both cores prevented in 2 of 3 full runs (bench/HISTORY.md, thirty-eighth session).
const alone = ["test/bus/retention.test.ts"];
step("tests under Node (vitest)", process.execPath, [
  vitest, "run", "--reporter=default", "--reporter=json", "--outputFile.json=.cache/vitest-node.json",
  ...(extra.length === 0 ? alone.map((f) => `--exclude=${f}`) : extra),
]);
count(".cache/vitest-node.json");
if (extra.length === 0) {
  step("tests run alone under Node (vitest)", process.execPath, [
    vitest, "run", ...alone, "--reporter=default", "--reporter=json", "--outputFile.json=.cache/vitest-alone.json",
  ]);
  count(".cache/vitest-alone.json");
  step("store and server-close tests under Deno (vitest)", deno, [
    "run", "-A", vitest, "run", "test/store", "test/platform-close.test.ts", "--reporter=default", "--reporter=json",
    "--outputFile.json=.cache/vitest-deno.json",
  ]);
  count(".cache/vitest-deno.json");
}
process.stdout.write(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(ok && totals.failed === 0 ? 0 : 1);
