// A producer process for the crash and contention tests. Publishes messages 0..COUNT-1 of producer P in
// batches, each with the idempotency key `pP-n`: restarted after a kill -9 it starts again from 0 and the
// keys make the re-published part a no-op. Ordering key `pP-k(n mod KEYS)`.
// Usage: worker-producer.ts DB_PATH P COUNT KEYS BATCH PAUSE_MS [DURATION_MS]
import process from "node:process";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { openStore, storeErrorCode } from "../../src/store/mod.ts";

const [path, pArg, countArg, keysArg, batchArg, pauseArg, durationArg] = process.argv.slice(2);
const until = durationArg === undefined ? Infinity : Date.now() + Number(durationArg);
const [p, count, keys, batch, pause] = [pArg, countArg, keysArg, batchArg, pauseArg].map(Number) as number[];
const store = await openStore({ url: `file:${path}` });
const bus = createSqliteBus(store);
const errors: Record<string, number> = {};
let duplicates = 0;
let n = 0;
while (n < count! && Date.now() < until) {
  const msgs = [];
  for (let i = n; i < Math.min(n + batch!, count!); i++) {
    msgs.push({
      topic: "work",
      key: `p${p}-k${i % keys!}`,
      payload: { p: p!, n: i },
      idempotencyKey: `p${p}-${i}`,
    });
  }
  try {
    duplicates += (await bus.publish(msgs)).filter((r) => r.duplicate).length;
    n += msgs.length;
  } catch (err) {
    const code = storeErrorCode(err);
    errors[code] = (errors[code] ?? 0) + 1;
    process.stderr.write(`producer ${p}: publish failed (${code}): ${(err as Error).message}\n`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (pause! > 0) await new Promise((resolve) => setTimeout(resolve, pause));
}
await bus.close();
store.close();
process.stdout.write(`${JSON.stringify({ producer: p, published: n, duplicates, errors })}\n`);
