// Opens the database (optionally migrating it), publishes COUNT messages in one batch and prints the outcome as
// JSON, with the message count and integrity check. The read-only tests run it as a child process because a
// mount cannot be made read-only (or checked) while another process holds files on it open for writing.
// With --fail-fs=PATH it publishes once, syncs, writes PATH (ext4's trigger_fs_error: the kernel remounts the
// file system read-only, as on a real disk error), then publishes COUNT more.
// Usage: worker-publish.ts DB_PATH COUNT [--migrate] [--fail-fs=PATH]
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import process from "node:process";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { isStoreUnavailable, migrate, openStore, type Store, storeErrorCode } from "../../src/store/mod.ts";

const [path, countArg, ...flags] = process.argv.slice(2);
const failFs = flags.find((f) => f.startsWith("--fail-fs="))?.slice("--fail-fs=".length);
const report = (r: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(r)}\n`);
const batch = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ topic: "t", key: `k${i % 7}`, payload: { i } }));

async function state(store: Store) {
  const n = await store.client.execute("SELECT count(*) AS n FROM bus_messages");
  const ic = await store.client.execute("PRAGMA integrity_check");
  return { messages: Number(n.rows[0]!["n"]), integrity: String(Object.values(ic.rows[0]!)[0]) };
}

let store: Store | undefined;
let before: Record<string, unknown> = {};
try {
  store = await openStore({ url: `file:${path}` });
  if (flags.includes("--migrate")) await migrate(store.client);
  const bus = createSqliteBus(store);
  if (flags.includes("--migrate")) await bus.subscribe("t", "g");
  if (failFs !== undefined) {
    await bus.publish(batch(Number(countArg)));
    await store.checkpoint();
    execFileSync("sync");
    before = await state(store);
    writeFileSync(failFs, "aideazz test: simulated disk error");
  }
  const ids = await bus.publish(batch(Number(countArg)));
  report({ ok: true, published: ids.length, ...(await state(store)) });
} catch (err) {
  const after = store ? await state(store).catch(() => ({})) : {};
  report({
    ok: false,
    code: storeErrorCode(err),
    unavailable: isStoreUnavailable(err),
    message: (err as Error).message,
    before,
    after,
  });
}
