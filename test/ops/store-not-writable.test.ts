// A database opened by root (a `migrate`, `backup` or restore run without `sudo -u aideazz`) leaves root-owned
// -wal/-shm beside the service user's database: the agents then wait for the store forever. `aideazz health` and the
// agent's "waiting for the store" reason name the file the service user cannot write and the fix, not only
// "SQLITE_READONLY". As root here, the service user played by `nobody`.
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { V8_FLAGS_ARG } from "../../src/v8-flags.ts";
import { denoBin, mainTs, repoRoot, runAideazz } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const root = process.getuid?.() === 0 && existsSync("/usr/sbin/runuser");
let dir: string;
let cleanup: () => Promise<void>;
let config: string;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-owner-"));
  if (!root) return;
  chmodSync(dir, 0o755);
  const db = join(dir, "aideazz.db");
  // Root migrates (and, like every command, leaves -wal/-shm behind).
  const m = await runAideazz(["migrate", "--db", `file:${db}`]);
  expect(m.code, m.stderr).toBe(0);
  expect(existsSync(`${db}-shm`)).toBe(true);
  const nobody = Number(spawnSync("id", ["-u", "nobody"], { encoding: "utf8" }).stdout.trim());
  chownSync(dir, nobody, 0);
  chownSync(db, nobody, 0); // the database itself is the service user's (install -o aideazz …)
  config = join(dir, "aideazz.json");
  const agents = [{ name: "a", kind: "analytics", port: await freePort() }];
  writeFileSync(config, JSON.stringify({ store: { url: `file:${db}` }, agents }));
  chmodSync(config, 0o644);
}, 60_000);
afterAll(() => cleanup());

/** `aideazz ARGS` as the service user; `seconds`: stopped (SIGTERM) after that long. */
function asServiceUser(args: string[], seconds?: number) {
  const timeout = seconds === undefined ? [] : ["timeout", "-s", "TERM", String(seconds)];
  return spawnSync("runuser", ["-u", "nobody", "--", ...timeout, denoBin, "run", "-A", V8_FLAGS_ARG, mainTs, ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    env: { PATH: process.env["PATH"] ?? "", HOME: "/tmp", NO_COLOR: "1" },
  });
}

/** The file (root's -wal or -shm) and the fix. */
const namesFileAndFix =
  /aideazz\.db-(shm|wal) is not writable by nobody \(owner uid 0\): run `chown nobody: .*aideazz\.db\*`/;

describe("the service user's store with root's -wal and -shm beside it", () => {
  it.skipIf(!root)("`aideazz health` names the file the service user cannot write and how to fix it", () => {
    const r = asServiceUser(["health", "--json", "--config", config]);
    const report = JSON.parse(r.stdout) as { checks: { name: string; level: string; detail: string }[] };
    const database = report.checks.find((c) => c.name === "database")!;
    expect(database.level).toBe("down");
    expect(database.detail).toMatch(namesFileAndFix);
  }, 60_000);

  it.skipIf(!root)("the agent waiting for the store logs the same file and fix as its reason", () => {
    const r = asServiceUser(["agent", "a", "--config", config], 5);
    const waiting = `${r.stdout}${r.stderr}`.split("\n").find((l) => l.includes("the agent waits for it"));
    expect(waiting, r.stderr).toBeDefined();
    expect(JSON.parse(waiting!).reason).toMatch(namesFileAndFix);
  }, 60_000);
});
