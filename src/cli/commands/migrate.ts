import { migrate, openStore } from "../../store/mod.ts";
import { defineCommand } from "../command.ts";
import { dbUrlOf, displayDbUrl, readConfig, stringOption } from "../context.ts";

export const migrateCommand = defineCommand({
  name: "migrate",
  summary: "create or upgrade the database schema",
  async run({ values, deps }) {
    const hasDbOverride = stringOption(values, "db") !== undefined || deps.env["AIDEAZZ_DB"] !== undefined;
    // `migrate --db URL` needs no config file.
    const loaded = hasDbOverride ? undefined : await readConfig(values, deps, []);
    const url = dbUrlOf(values, deps, loaded);
    const authEnv = loaded?.config.store.authTokenEnv;
    const authToken = authEnv ? deps.env[authEnv] : undefined;
    const store = await openStore({ url, ...(authToken ? { authToken } : {}) });
    try {
      const result = await migrate(store.client, deps.now);
      const what = result.applied.length === 0 ? "already up to date" : `applied ${result.applied.join(", ")}`;
      deps.stdout(`migrate: ${displayDbUrl(url)}: ${what}; schema version ${result.version}\n`);
      return 0;
    } finally {
      store.close();
    }
  },
});
