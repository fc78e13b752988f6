// An `aideazz backup` that does not finish (a shutdown's SIGTERM; cron's `timeout`, the OOM killer or a power loss:
// SIGKILL) leaves nothing under the backup's name that is not a backup: the operator restoring "the newest backup"
// must not get a half-written file or an empty database. The copy is made as FILE.partial-<pid>, linked to FILE
// once checked; a SIGTERM removes it, a SIGKILL may leave it (its name says what it is).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openStore } from "../../src/store/mod.ts";
import { V8_FLAGS_ARG } from "../../src/v8-flags.ts";
import { denoBin, mainTs, repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let live: string;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-backup-kill-"));
  live = join(dir, "aideazz.db");
  const store = await openStore({ url: `file:${live}` });
  await migrate(store.client);
  // ~200 MB of history: the copy takes over a second, long enough to be interrupted.
  for (let k = 0; k < 20; k++) {
    await store.client.batch([{
      sql: `WITH RECURSIVE c(x) AS (VALUES(1) UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
        INSERT INTO restarts (target, unit, at, kind, reason, action, ok)
        SELECT 't', 'u', x, 'failure', hex(randomblob(5000)), 'restart', 1 FROM c`,
    }], "write");
  }
  await store.checkpoint("truncate");
  store.close();
}, 120_000);
afterAll(() => cleanup());

/** The copy being made for FILE (FILE.partial-<pid>), if any. */
function partialOf(target: string): string | undefined {
  const prefix = `${target.slice(dir.length + 1)}.partial-`;
  const name = readdirSync(dir).find((f) => f.startsWith(prefix) && !f.endsWith("-journal"));
  return name === undefined ? undefined : join(dir, name);
}

/** `aideazz backup FILE` under Deno; resolves with the child once part of the copy is written. */
async function backupUnderWay(target: string): Promise<ChildProcess> {
  const proc = spawn(denoBin, ["run", "-A", V8_FLAGS_ARG, mainTs, "backup", target, "--db", `file:${live}`], {
    cwd: repoRoot,
    stdio: "ignore",
  });
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    if (proc.exitCode !== null) throw new Error(`backup finished (exit ${proc.exitCode}) before it could be interrupted`);
    const partial = partialOf(target);
    if (partial !== undefined && existsSync(partial) && statSync(partial).size > 4 * 1024 * 1024) return proc;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("the copy never started");
}

/** Whether `path` is a database with this install's tables (what a restore needs). */
async function isBackup(path: string): Promise<string> {
  const copy = createClient({ url: `file:${path}` });
  try {
    const rs = await copy.execute("SELECT count(*) AS n FROM restarts");
    return `a backup with ${rs.rows[0]!["n"]} restarts`;
  } catch (err) {
    return `not a backup: ${(err as Error).message}`;
  } finally {
    copy.close();
  }
}

describe("an `aideazz backup` that does not finish", () => {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`leaves no file under the backup's name that is not a backup (${signal} mid-copy)`, async () => {
      const target = join(dir, `aideazz-${signal}.db`);
      const proc = await backupUnderWay(target);
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill(signal);
      await exited;
      // Either nothing under that name, or a whole backup.
      const what = existsSync(target) ? await isBackup(target) : "no file";
      expect(what).toMatch(/^(no file|a backup with 20000 restarts)$/);
      // A SIGTERM is handled: the unfinished copy is removed too.
      if (signal === "SIGTERM") expect(partialOf(target)).toBeUndefined();
    }, 120_000);
  }
});
