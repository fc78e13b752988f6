// README "Backups": back up under /var/lib/aideazz, i.e. on the database's own file system, nightly. A copy that
// cannot fit is refused before it starts: `VACUUM INTO` once filled the disk until SQLite gave up, and meanwhile every
// agent's write failed with SQLITE_FULL (webhooks 503, turns and sends retried). A real file system of a known size
// (tmpfs, so root), a real store writing as an agent does (durable commits), and the CLI under Deno.
import { execSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diskSpace } from "../../src/platform.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { runAideazz } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

const root = process.getuid?.() === 0;
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-backup-")));
afterAll(() => cleanup());

describe("aideazz backup on the database's file system", () => {
  it.skipIf(!root)("a copy that cannot fit is refused before it fills the disk the agents write to", async () => {
    const mnt = join(dir, "var-lib-aideazz");
    mkdirSync(mnt);
    execSync(`mount -t tmpfs -o size=64m tmpfs '${mnt}'`);
    let store: Store | undefined;
    try {
      const url = `file:${join(mnt, "aideazz.db")}`;
      store = await openStore({ url });
      await migrate(store.client);
      // ~36 MB of conversations, checkpointed into the database file: ~29 MB stay free.
      for (let k = 0; k < 36; k++) {
        await store.client.batch(Array.from({ length: 20 }, (_, i) => ({
          sql: "INSERT INTO restarts (target, unit, at, kind, reason, action, ok) VALUES (?, 'u', ?, 'failure', ?, 'restart', 1)",
          args: [`t${k}-${i}`, i, "x".repeat(50_000)],
        })), "write");
        await store.checkpoint("truncate");
      }
      const free = (await diskSpace(mnt)).freeBytes;
      expect(free).toBeLessThan(36_000_000); // the copy cannot fit
      expect(free).toBeGreaterThan(20_000_000); // but the agents have room to write

      // An agent's ingress: small durable commits, every few milliseconds, all along.
      const s = store;
      let stop = false;
      const failures: string[] = [];
      let commits = 0;
      const writer = (async () => {
        for (let n = 0; !stop; n++) {
          try {
            await s.durableBatch([{
              sql: "INSERT INTO restarts (target, unit, at, kind, reason, action, ok) VALUES ('w', 'u', ?, 'failure', 'webhook', 'restart', 1)",
              args: [n],
            }]);
            commits++;
          } catch (err) {
            failures.push(String(err));
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      mkdirSync(join(mnt, "backups"));
      const r = await runAideazz(["backup", join(mnt, "backups", "aideazz-2026-12-02.db"), "--db", url]);
      await new Promise((r) => setTimeout(r, 300));
      stop = true;
      await writer;
      expect(r.code).toBe(1); // it cannot succeed here; the question is what it did to the agents meanwhile
      expect(commits).toBeGreaterThan(50);
      expect({ backupSaid: r.stderr.trim(), agentWritesFailed: failures.length, first: failures[0] })
        .toEqual({ backupSaid: expect.any(String), agentWritesFailed: 0, first: undefined });
    } finally {
      store?.close();
      execSync(`umount -l '${mnt}'`);
    }
  }, 60_000);
});
