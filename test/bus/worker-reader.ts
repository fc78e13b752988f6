// A process that always has a read transaction open on the database (two overlapping long readers), for the
// WAL checkpoint-starvation test (RELIABILITY.md C7). Usage: worker-reader.ts DB_PATH HOLD_MS DURATION_MS
import process from "node:process";
import { openStore } from "../../src/store/mod.ts";

const [path, holdArg, durationArg] = process.argv.slice(2);
const hold = Number(holdArg);
const end = Date.now() + Number(durationArg);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function reader(offset: number) {
  const store = await openStore({ url: `file:${path}` });
  await sleep(offset);
  let reads = 0;
  while (Date.now() < end) {
    const tx = await store.client.transaction("read");
    await tx.execute("SELECT count(*) FROM bus_messages");
    await sleep(hold);
    tx.close();
    reads++;
  }
  store.close();
  return reads;
}

const reads = await Promise.all([reader(0), reader(hold / 2)]);
process.stdout.write(`${JSON.stringify({ reads })}\n`);
