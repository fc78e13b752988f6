#!/usr/bin/env node
// `npm run soak -- [options]`: the chaos soak (bench/soak/main.ts) under Deno, the production runtime.
import { spawnSync } from "node:child_process";

const r = spawnSync("node_modules/.bin/deno", ["run", "-A", "bench/soak/main.ts", ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(r.status ?? 1);
