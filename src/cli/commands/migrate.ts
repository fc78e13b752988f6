import { displayDbUrl, migrate, openStore } from "../../store/mod.ts";
import { defineCommand } from "../command.ts";
import { readStoreConfig, storeTargetOf } from "../context.ts";

export const migrateCommand = defineCommand({
  name: "migrate",
  summary: "create or upgrade the database schema",
  async run({ values, deps }) {
    // `migrate --db URL` needs no config file.
    const target = storeTargetOf(values, deps, await readStoreConfig(values, deps));
    const { url } = target;
    const store = await openStore(target);
    try {
      const result = await migrate(store.client, deps.now);
      const what = result.newer !== undefined
        ? "migrated by a newer aideazz, nothing to do"
        : result.applied.length === 0
        ? "already up to date"
        : `applied ${result.applied.join(", ")}`;
      deps.stdout(`migrate: ${displayDbUrl(url)}: ${what}; schema version ${result.version}\n`);
      return 0;
    } finally {
      store.close();
    }
  },
});
