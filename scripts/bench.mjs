#!/usr/bin/env node
// `npm run bench -- <suite> [args]`: runs bench/<suite>/main.ts under Deno (the production runtime) or
// bench/<suite>/main.mjs under Node. Each suite prints a table and writes bench/results/<suite>.json.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

const [suite, ...args] = process.argv.slice(2);
const suites = existsSync("bench")
  ? readdirSync("bench").filter((d) => existsSync(`bench/${d}/main.ts`) || existsSync(`bench/${d}/main.mjs`))
  : [];
if (!suite || !suites.includes(suite)) {
  process.stderr.write(`usage: npm run bench -- <suite> [args]\nsuites: ${suites.join(", ") || "(none)"}\n`);
  process.exit(2);
}
const [cmd, cmdArgs] = existsSync(`bench/${suite}/main.ts`)
  ? ["node_modules/.bin/deno", ["run", "-A", `bench/${suite}/main.ts`, ...args]]
  : [process.execPath, [`bench/${suite}/main.mjs`, ...args]];
const r = spawnSync(cmd, cmdArgs, { stdio: "inherit" });
process.exit(r.status ?? 1);
