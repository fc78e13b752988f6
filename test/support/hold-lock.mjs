// Holds the write lock of a libSQL database until stdin closes, or for MS milliseconds when given:
// `node hold-lock.mjs PATH [MS]`. Prints "locked". On a new file the database stays in rollback-journal mode.
import { createClient } from "@libsql/client";

const client = createClient({ url: `file:${process.argv[2]}` });
const tx = await client.transaction("write");
await tx.execute("CREATE TABLE IF NOT EXISTS lock_holder (x INTEGER)");
process.stdout.write("locked\n");
const release = async () => {
  await tx.rollback();
  client.close();
};
if (process.argv[3] !== undefined) setTimeout(release, Number(process.argv[3]));
else {
  process.stdin.resume();
  process.stdin.on("end", release);
}
