// Disk full and read-only database (RELIABILITY.md A4 for the bus): publish fails with an error that
// isStoreUnavailable() recognises (so a webhook answers 503), nothing is half-written, and publishing works
// again after recovery. Needs root for mount; each test skips, saying why, when mounting is refused.
import { execFileSync } from "node:child_process";
import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { isStoreUnavailable, storeErrorCode } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { waitFor } from "./contract.ts";
import { count, freshDb } from "./helpers.ts";
import { lastJson, startWorker } from "./spawn.ts";

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] }).toString().trim();
}

function tryMount(args: string[]): string | undefined {
  try {
    sh("mount", ...args);
    return undefined;
  } catch (err) {
    return `mount ${args.join(" ")} refused: ${(err as Error).message.split("\n")[0]}`;
  }
}

interface PublishReport {
  ok: boolean;
  code?: string;
  unavailable?: boolean;
  message?: string;
  messages?: number;
  integrity?: string;
  before?: { messages: number };
  after?: { messages?: number; integrity?: string };
}

async function publishInChild(db: string, n: number, ...flags: string[]): Promise<PublishReport> {
  return lastJson<PublishReport>(
    (await startWorker("test/bus/worker-publish.ts", [db, n, ...flags]).done).stdout,
  );
}

describe("bus on a failing disk", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it(
    "disk full: publish fails with SQLITE_FULL, writes nothing, and works again once space is freed",
    async (ctx) => {
      const tmp = await tempDir("aideazz-full-");
      cleanups.push(tmp.cleanup);
      const refused = tryMount(["-t", "tmpfs", "-o", "size=2m", "tmpfs", tmp.dir]);
      if (refused) return ctx.skip(refused);
      cleanups.push(() => void sh("umount", "-l", tmp.dir));
      const db = await freshDb(tmp.dir);
      cleanups.push(db.cleanup);
      const bus = createSqliteBus(db.store);
      await bus.subscribe("t", "g");
      await bus.publish(Array.from({ length: 10 }, (_, i) => ({ topic: "t", key: `k${i}`, payload: i })));

      const filler = join(tmp.dir, "filler");
      const fd = openSync(filler, "w");
      try {
        for (;;) writeSync(fd, new Uint8Array(16_384));
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe("ENOSPC");
      } finally {
        closeSync(fd);
      }
      const big = Array.from(
        { length: 200 },
        (_, i) => ({ topic: "t", key: `k${i}`, payload: "x".repeat(4_000) }),
      );
      const err = await bus.publish(big).then(() => undefined, (e: unknown) => e);
      expect(err).toBeDefined();
      expect(storeErrorCode(err)).toMatch(/^SQLITE_FULL/);
      expect(isStoreUnavailable(err)).toBe(true);
      expect(await count(db.store, "bus_messages")).toBe(10);
      expect(await count(db.store, "bus_deliveries")).toBe(10);

      unlinkSync(filler);
      expect(await bus.publish(big.slice(0, 50))).toHaveLength(50);
      expect(
        await count(db.store, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"),
      ).toBe(0);
      const seen: number[] = [];
      const c = bus.consume({
        topic: "t",
        group: "g",
        concurrency: 64,
        handler: (d) => {
          seen.push(d.id);
          return Promise.resolve();
        },
      });
      await waitFor(() => seen.length === 60, "all 60 handled");
      await c.stop();
      await bus.close();
    },
    30_000,
  );

  it(
    "the file system turns read-only under a running agent: publish fails (I/O error), nothing half-written, fine after repair",
    async (ctx) => {
      const tmp = await tempDir("aideazz-ro-");
      cleanups.push(tmp.cleanup);
      const image = join(tmp.dir, "disk.img");
      const mnt = join(tmp.dir, "mnt");
      await mkdir(mnt);
      try {
        sh("truncate", "-s", "32M", image);
        sh("mkfs.ext4", "-q", "-F", image);
      } catch (err) {
        return ctx.skip(`cannot make an ext4 image: ${(err as Error).message.split("\n")[0]}`);
      }
      const refused = tryMount(["-o", "loop,errors=remount-ro", image, mnt]);
      if (refused) return ctx.skip(refused);
      let mounted = true;
      cleanups.push(() => void (mounted && sh("umount", "-l", mnt)));
      const loop = basename(sh("findmnt", "-no", "SOURCE", mnt));
      const trigger = `/sys/fs/ext4/${loop}/trigger_fs_error`;
      const db = join(mnt, "bus.db");

      expect(await publishInChild(db, 5, "--migrate")).toMatchObject({ ok: true, messages: 5 });
      const failed = await publishInChild(db, 4, `--fail-fs=${trigger}`);
      expect(failed).toMatchObject({ ok: false, unavailable: true, before: { messages: 9 } });
      expect(failed.code).toMatch(/^SQLITE_(IOERR|READONLY)/);
      expect(failed.after?.messages).toBe(9); // the failed batch left nothing behind
      expect(sh("findmnt", "-no", "OPTIONS", mnt)).toMatch(/(^|,)ro(,|$)|emergency_ro/);

      sh("umount", mnt);
      mounted = false;
      try {
        sh("e2fsck", "-fy", image);
      } catch { /* exit 1: errors corrected */ }
      expect(tryMount(["-o", "loop,errors=remount-ro", image, mnt])).toBeUndefined();
      mounted = true;
      expect(await publishInChild(db, 3)).toMatchObject({ ok: true, messages: 12, integrity: "ok" });
    },
    60_000,
  );

  it(
    "an agent (re)starting on a read-only mount gets a clear error from the store, nothing written",
    async (ctx) => {
      const tmp = await tempDir("aideazz-romount-");
      cleanups.push(tmp.cleanup);
      const refused = tryMount(["-t", "tmpfs", "-o", "size=8m", "tmpfs", tmp.dir]);
      if (refused) return ctx.skip(refused);
      cleanups.push(() => void sh("umount", "-l", tmp.dir));
      const db = join(tmp.dir, "bus.db");
      expect(await publishInChild(db, 5, "--migrate")).toMatchObject({ ok: true, messages: 5 });
      expect(tryMount(["-o", "remount,ro", tmp.dir])).toBeUndefined();
      const failed = await publishInChild(db, 3);
      expect(failed).toMatchObject({ ok: false, unavailable: true });
      expect(failed.code).toMatch(/^SQLITE_(CANTOPEN|READONLY|IOERR)/);
      expect(tryMount(["-o", "remount,rw", tmp.dir])).toBeUndefined();
      expect(await publishInChild(db, 3)).toMatchObject({ ok: true, messages: 8, integrity: "ok" });
    },
    30_000,
  );
});
