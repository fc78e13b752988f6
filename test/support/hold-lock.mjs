// Holds the write lock of a libSQL database until stdin closes: `node hold-lock.mjs PATH`. Prints "locked".
import { createClient } from "@libsql/client";

const client = createClient({ url: `file:${process.argv[2]}` });
const tx = await client.transaction("write");
await tx.execute("CREATE TABLE IF NOT EXISTS lock_holder (x INTEGER)");
process.stdout.write("locked\n");
process.stdin.resume();
process.stdin.on("end", async () => {
  await tx.rollback();
  client.close();
});
