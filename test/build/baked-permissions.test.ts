/**
 * Runs the real CLI under the project's Deno with exactly the permissions scripts/build-binary.ts bakes into the
 * release binary (permissionFlags() + the V8 flags + --unstable-no-legacy-abort), as scripts/ci/arm64-smoke.sh
 * does, against a database outside the binary's write folders (a backup copied elsewhere, as README "Backups"
 * says to do).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { permissionFlags } from "../../scripts/build-binary.ts";
import { DEFAULT_WRITE_PATHS } from "../../src/platform.ts";
import { V8_FLAGS_ARG } from "../../src/v8-flags.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const deno = path.join(root, "node_modules/.bin/deno");
const main = path.join(root, "src/main.ts");

/** `aideazz ARGS` as the compiled binary runs it (its baked-in permissions, not -A). */
function binary(args: string[], perms: string[] = permissionFlags()) {
  const res = spawnSync(
    deno,
    ["run", "--config", path.join(root, "deno.json"), ...perms, V8_FLAGS_ARG, "--unstable-no-legacy-abort", main, ...args],
    { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } },
  );
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

// A folder outside every write folder of the binary (not /tmp, not /var/lib/aideazz), wherever the checkout is.
let dir: string;
let db: string;
beforeAll(() => {
  dir = fs.mkdtempSync("/var/tmp/aideazz-perms-");
  expect(DEFAULT_WRITE_PATHS.some((p) => dir === p || dir.startsWith(`${p}/`))).toBe(false);
  db = path.join(dir, "copy.db");
  // Setup with full permissions: an existing, migrated database (e.g. a backup the operator copied here).
  const made = binary(["migrate", "--db", `file:${db}`], ["-A"]);
  expect(made.code, made.stderr).toBe(0);
}, 120_000);
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("baked-in permissions: a database outside the write folders", () => {
  it("read-only commands (bus stats, leads export) open an existing database in an existing folder", () => {
    // Nothing needs writing by JS here: the folder and the file exist (the store's open made the folder anyway,
    // which Deno refuses outside --allow-write: "cannot create the database's directory …").
    for (const args of [["bus", "stats"], ["leads", "export", "--format", "json"]]) {
      const r = binary([...args, "--db", `file:${db}`]);
      expect(r.stderr).not.toMatch(/cannot create the database's directory/);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
  }, 120_000);

  it("a store the binary may not create is refused with the binary's own explanation, not a Deno flag to add", () => {
    // README "Backups": "another path gets an error saying so" (cli/mod.ts names the folders the binary may
    // write). A compiled binary takes no --allow-write flag, which Deno's own message advised.
    const r = binary(["migrate", "--db", `file:${path.join(dir, "new", "aideazz.db")}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/run again with the --allow-write flag/);
    expect(r.stderr).toMatch(/may write only in the folders it was built for/);
  }, 120_000);
});
