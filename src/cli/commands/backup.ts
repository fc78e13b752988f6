import { formatBytes } from "../../metrics/mod.ts";
import { toBytes } from "../../ops/mod.ts";
import { displayDbUrl } from "../../store/mod.ts";
import { closeSync, existsSync, fsyncSync, linkSync, openSync, rmSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createClient } from "@libsql/client";
import { defineCommand } from "../command.ts";
import { openReadStore } from "../context.ts";

/**
 * A consistent copy of the live database (`VACUUM INTO`: one read transaction, so writers go on and nothing in the
 * WAL is missed, as it would be by copying the file), checked with `integrity_check` before it is called done. The
 * copy is written to `FILE.partial-<pid>` beside FILE, created new and readable by its owner only (it holds the
 * customers' conversations, as the database does), and linked to FILE once checked; removed when the copy or its
 * check fails or a SIGTERM came. A `.partial-*` file left behind is a copy the process was killed in (SIGKILL, power
 * loss): not a backup, safe to delete.
 */
export const backupCommand = defineCommand({
  name: "backup",
  summary: "write a consistent copy of the live database to a new file and check it (safe while agents run); " +
    "a FILE.partial-<pid> left beside it is a copy that was killed: not a backup, delete it",
  args: "<file>",
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, deps }) {
    const target = resolve(positionals[0]!);
    const started = deps.now();
    const { store, url, config } = await openReadStore(values, deps);
    try {
      if (store.path === undefined) {
        deps.stderr(`backup: ${displayDbUrl(url)} is a libSQL server; back it up with the server's own tools\n`);
        return 1;
      }
      // The copy grows until it is whole: on the database's own file system (README's nightly backup), one that
      // cannot fit would fill the disk and fail every agent's write until it gives up.
      const reserve = config?.ops.health.minDiskFree ?? "1G";
      const size = await store.client.execute(
        "SELECT (page_count - freelist_count) * page_size AS n FROM pragma_page_count, pragma_freelist_count, pragma_page_size",
      );
      const needed = Number(size.rows[0]?.["n"] ?? 0) + toBytes(reserve);
      const free = (await deps.diskSpace(dirname(target))).freeBytes;
      if (free < needed) {
        deps.stderr(
          `backup: the copy needs ${formatBytes(needed)} free at ${dirname(target)} (the database, and ${reserve} ` +
            `left over: ops.health.minDiskFree), and ${formatBytes(free)} is; nothing written\n`,
        );
        return 1;
      }
      if (existsSync(target)) {
        deps.stderr(`backup: ${target} exists; name a new file\n`);
        return 1;
      }
      // The copy is made under a name of its own and linked to FILE only once checked: a backup cut short leaves
      // nothing under FILE that is not a backup.
      const partial = `${target}.partial-${deps.pid}`;
      try {
        closeSync(openSync(partial, "wx", 0o600)); // VACUUM INTO fills an empty file
      } catch (err) {
        if ((err as Error).name === "NotCapable") {
          // The CLI names the folders the binary may write, and the file: the operator's FILE, not our temporary name.
          (err as Error).message = (err as Error).message.replaceAll(partial, target);
          throw err;
        }
        deps.stderr(`backup: ${partial}: ${String(err)}\n`);
        return 1;
      }
      // libSQL's copy blocks this thread, so a SIGTERM (SIGINT) is seen when it ends: the copy is then removed.
      let stopped: string | undefined;
      const off = deps.onStopSignal((signal) => (stopped = signal));
      try {
        await store.client.execute({ sql: "VACUUM INTO ?", args: [partial] });
        const problems = await integrityProblems(partial);
        if (problems.length > 0) throw new Error(`the copy failed its integrity check: ${problems.slice(0, 5).join("; ")}`);
        if (stopped) throw new Error(`stopped by ${stopped}`);
        // VACUUM INTO writes the copy without syncing it: synced before the link, so FILE never names lost pages.
        syncPath(partial);
        linkSync(partial, target); // fails when FILE exists: never overwritten
        rmSync(partial);
        syncPath(dirname(target));
      } catch (err) {
        const exists = (err as NodeJS.ErrnoException).code === "EEXIST";
        deps.stderr(`backup: ${exists ? `${target} exists; name a new file` : (err as Error).message}; nothing kept\n`);
        return 1;
      } finally {
        off();
        rmSync(partial, { force: true });
        rmSync(`${partial}-journal`, { force: true });
      }
    } finally {
      store.close();
    }
    const mb = (statSync(target).size / 1e6).toFixed(1);
    const seconds = ((deps.now() - started) / 1000).toFixed(1);
    deps.stdout(`backup: ${displayDbUrl(url)} → ${target} (${mb} MB, integrity ok, ${seconds} s)\n`);
    return 0;
  },
});

/** Writes what the OS holds of file or folder `path` to disk. */
function syncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** What `integrity_check` says is wrong with the database at `path` (none: it is sound). */
async function integrityProblems(path: string): Promise<string[]> {
  // Each path segment escaped: a `%`, `#` or `?` in a file name must not be read as part of the URL.
  const copy = createClient({ url: `file:${path.split("/").map(encodeURIComponent).join("/")}` });
  try {
    const rs = await copy.execute("SELECT integrity_check FROM pragma_integrity_check");
    return rs.rows.map((r) => String(r["integrity_check"])).filter((r) => r !== "ok");
  } finally {
    copy.close();
  }
}
