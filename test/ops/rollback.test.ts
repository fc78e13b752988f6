// README "Updating": "Roll back by moving the old binary back and restarting that agent." A release that adds a
// migration leaves the database at a schema the old binary does not know (its agent refused to start on it), and
// `aideazz health`, run by the timer every minute with the newly installed binary, once migrated it before any
// restart.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openStore } from "../../src/store/mod.ts";
import { migrations } from "../../src/store/migrations.ts";
import { type Child, cli, spawnAideazz } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { health, until, writeConfig } from "../ops/support.ts";

let dir: string;
let cleanup: () => Promise<void>;
const children: Child[] = [];
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-rollback-")));
afterAll(async () => {
  for (const c of children) c.proc.kill("SIGTERM");
  await Promise.all(children.map((c) => c.exited));
  await cleanup();
});

describe("rolling back the binary after an update that added a migration (README: Updating)", () => {
  it("the old binary's agent starts on the database the new release migrated (an added column it does not use)", async () => {
    const db = `file:${join(dir, "aideazz.db")}`;
    // The next release: every migration of this one, plus one that adds a column.
    const last = migrations.at(-1)!.version;
    const next = [...migrations, {
      version: last + 1,
      name: "next release: a new column",
      statements: ["ALTER TABLE agent_heartbeats ADD COLUMN host TEXT"],
    }];
    const store = await openStore({ url: db });
    await migrate(store.client, Date.now, next);
    store.close();

    // This binary is the "old" one the operator moves back; restart the agent with it.
    const port = await freePort();
    const config = join(dir, "aideazz.json");
    await writeConfig(config, [{ name: "a", port }], db);
    const child = spawnAideazz(["agent", "a", "--config", config]);
    children.push(child);
    const outcome = await until("the agent healthy, or exited", async () => {
      if (child.proc.exitCode !== null) return `exited ${child.proc.exitCode}: ${child.output().trim().slice(-300)}`;
      return (await health(port))?.status === 200 ? "healthy" : undefined;
    }, 60_000);
    expect(outcome).toBe("healthy");
  }, 90_000);

  it("`aideazz health` (the timer, every minute, with the newly installed binary) does not migrate: README says only `aideazz migrate` and the agents change the schema", async () => {
    const db = `file:${join(dir, "older.db")}`;
    const previous = migrations.slice(0, -1); // the database of the release before this one
    const store = await openStore({ url: db });
    await migrate(store.client, Date.now, previous);
    store.close();
    const config = join(dir, "older.json");
    await writeConfig(config, [{ name: "a", port: await freePort() }], db);
    const r = await cli(["health", "--json", "--config", config]);
    expect(r.stdout).toContain('"database"');
    const after = await openStore({ url: db });
    try {
      const rs = await after.client.execute("SELECT max(version) AS v FROM schema_migrations");
      expect(Number(rs.rows[0]!["v"])).toBe(previous.at(-1)!.version);
    } finally {
      after.close();
    }
  }, 60_000);
});
