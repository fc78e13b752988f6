// Shared setup for the SQLite-backed bus tests.
import { join } from "node:path";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

export interface TestDb {
  store: Store;
  dir: string;
  path: string;
  cleanup(): Promise<void>;
}

/** A migrated database in a fresh temporary directory. */
export async function freshDb(dir?: string): Promise<TestDb> {
  const tmp = dir === undefined ? await tempDir("aideazz-bus-") : { dir, cleanup: () => Promise.resolve() };
  const path = join(tmp.dir, "bus.db");
  const store = await openStore({ url: `file:${path}` });
  await migrate(store.client);
  return {
    store,
    dir: tmp.dir,
    path,
    cleanup: async () => {
      store.close();
      await tmp.cleanup();
    },
  };
}

export async function count(store: Store, sql: string): Promise<number> {
  const rs = await store.client.execute(sql.startsWith("SELECT") ? sql : `SELECT count(*) AS n FROM ${sql}`);
  return Number(Object.values(rs.rows[0] ?? {})[0]);
}
