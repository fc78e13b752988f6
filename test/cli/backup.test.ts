// `aideazz backup` as an operator runs it, under Deno, while an agent's store is open and writing: the copy has
// every committed row (those still in the WAL too), passes integrity_check, and an existing file is never overwritten.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { permissionFlags } from "../../scripts/build-binary.ts";
import { denoBin, mainTs, runAideazz } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-backup-"));
  store = await openStore({ url: `file:${join(dir, "live.db")}` });
  await migrate(store.client);
});
afterAll(async () => {
  store.close();
  await cleanup();
});

describe("aideazz backup", () => {
  it("copies the live database with what is still in its WAL, checked; refuses to overwrite", async () => {
    const insert = (i: number) => ({
      sql: "INSERT INTO restarts (target, unit, at, kind, reason, action, ok) VALUES (?, ?, ?, 'failure', 'test', 'restart', 1)",
      args: [`agent${i}`, `aideazz-agent@agent${i}.service`, i],
    });
    await store.durableBatch(Array.from({ length: 200 }, (_, i) => insert(i)));
    const db = ["--db", `file:${join(dir, "live.db")}`];
    const target = join(dir, "copy #1 100%.db"); // characters a URL would read otherwise
    const r = await runAideazz(["backup", target, ...db]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backup: file:.*live\.db → .*copy #1 100%\.db \([\d.]+ MB, integrity ok, [\d.]+ s\)\n$/);
    expect(statSync(target).mode & 0o777).toBe(0o600); // conversations: readable by the service user only
    const copy = createClient({ url: `file:${target.split("/").map(encodeURIComponent).join("/")}` });
    try {
      expect((await copy.execute("SELECT count(*) AS n FROM restarts")).rows[0]!["n"]).toBe(200);
    } finally {
      copy.close();
    }
    const again = await runAideazz(["backup", target, ...db]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("exists; name a new file");
  }, 60_000);
});

describe("aideazz backup with the binary's permissions", () => {
  it("a file outside the folders the build lets it write: what to do instead, not a run-time flag it has no use for", () => {
    // Allowed: the database's folder (as /var/lib/aideazz on the VM); the target is beside it, not inside.
    const target = `${dir}-outside.db`;
    const r = spawnSync(denoBin, [
      "run",
      ...permissionFlags([dir]),
      mainTs,
      "backup",
      target,
      "--db",
      `file:${join(dir, "live.db")}`,
    ], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `aideazz: Requires write access to "${target}": this binary may write only in the folders it was built for ` +
        "(/var/lib/aideazz, /tmp, /etc/systemd/system, /etc/polkit-1/rules.d, unless its build listed others with " +
        "scripts/build-binary.ts --write-path)\n",
    );
    expect(existsSync(target)).toBe(false);
  });
});
