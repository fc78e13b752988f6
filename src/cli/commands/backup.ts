import { formatBytes, toBytes } from "../../ops/mod.ts";
import { displayDbUrl } from "../../store/mod.ts";
import { closeSync, openSync, rmSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createClient } from "@libsql/client";
import { defineCommand } from "../command.ts";
import { openReadStore } from "../context.ts";

/**
 * A consistent copy of the live database (`VACUUM INTO`: one read transaction, so writers go on and nothing in the
 * WAL is missed, as it would be by copying the file), checked with `integrity_check` before it is called done. The
 * file is created first, new and readable by its owner only (it holds the customers' conversations, as the
 * database does), and removed again when the copy or its check fails.
 */
export const backupCommand = defineCommand({
  name: "backup",
  summary: "write a consistent copy of the live database to a new file and check it (safe while agents run)",
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
      try {
        closeSync(openSync(target, "wx", 0o600)); // VACUUM INTO fills an empty file
      } catch (err) {
        if ((err as Error).name === "NotCapable") throw err; // the CLI names the folders the binary may write
        const why = (err as NodeJS.ErrnoException).code === "EEXIST" ? "exists; name a new file" : String(err);
        deps.stderr(`backup: ${target} ${why}\n`);
        return 1;
      }
      try {
        await store.client.execute({ sql: "VACUUM INTO ?", args: [target] });
        const problems = await integrityProblems(target);
        if (problems.length > 0) throw new Error(`the copy failed its integrity check: ${problems.slice(0, 5).join("; ")}`);
      } catch (err) {
        rmSync(target, { force: true });
        deps.stderr(`backup: ${(err as Error).message}; nothing kept\n`);
        return 1;
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
