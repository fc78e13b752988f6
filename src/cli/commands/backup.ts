import { existsSync, statSync } from "node:fs";
import { createClient } from "@libsql/client";
import { defineCommand } from "../command.ts";
import { displayDbUrl, openReadStore } from "../context.ts";

/**
 * A consistent copy of the live database (`VACUUM INTO`: one read transaction, so writers go on and nothing in the
 * WAL is missed, as it would be by copying the file), checked with `integrity_check` before it is called done.
 */
export const backupCommand = defineCommand({
  name: "backup",
  summary: "write a consistent copy of the live database to a new file and check it (safe while agents run)",
  args: "<file>",
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, deps }) {
    const target = positionals[0]!;
    if (existsSync(target)) {
      deps.stderr(`backup: ${target} exists; name a new file\n`);
      return 1;
    }
    const started = deps.now();
    const { store, url } = await openReadStore(values, deps);
    try {
      if (store.path === undefined) {
        deps.stderr(`backup: ${displayDbUrl(url)} is a libSQL server; back it up with the server's own tools\n`);
        return 1;
      }
      await store.client.execute({ sql: "VACUUM INTO ?", args: [target] });
    } finally {
      store.close();
    }
    const copy = createClient({ url: `file:${target}` });
    try {
      const rs = await copy.execute("SELECT integrity_check FROM pragma_integrity_check");
      const problems = rs.rows.map((r) => String(r["integrity_check"])).filter((r) => r !== "ok");
      if (problems.length > 0) {
        deps.stderr(`backup: ${target} failed its integrity check: ${problems.slice(0, 5).join("; ")}\n`);
        return 1;
      }
    } finally {
      copy.close();
    }
    const mb = (statSync(target).size / 1e6).toFixed(1);
    const seconds = ((deps.now() - started) / 1000).toFixed(1);
    deps.stdout(`backup: ${displayDbUrl(url)} → ${target} (${mb} MB, integrity ok, ${seconds} s)\n`);
    return 0;
  },
});
