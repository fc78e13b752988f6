// Bench consumer process: a trivial handler that records the hop latency (handler start minus the wall-clock
// time the producer took just before publishing) and counts handled messages per second. Runs until SIGTERM,
// then stops gracefully and prints a JSON summary. Usage: consumer.ts DB CONCURRENCY [latency]
import process from "node:process";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { createLogger } from "../../src/log.ts";
import { openStore } from "../../src/store/mod.ts";

const [path, concurrencyArg, latencyArg] = process.argv.slice(2);
const keepLatency = latencyArg === "latency";
const store = await openStore({ url: `file:${path}` });
let lockErrors = 0;
const log = createLogger({
  agent: "bench-consumer",
  secrets: [],
  level: "warn",
  write: (line) => {
    if (/SQLITE_BUSY|SQLITE_LOCKED/.test(line)) lockErrors++;
    process.stderr.write(line);
  },
});
const bus = createSqliteBus(store, { log });
const wall = () => performance.timeOrigin + performance.now();
const start = wall();
const perSecond: number[] = [];
const latencies: number[] = [];
let handled = 0;
const consumer = bus.consume({
  topic: "bench",
  group: "bench",
  concurrency: Number(concurrencyArg),
  handler: (d) => {
    const now = wall();
    const t = (d.payload as { t: number }).t;
    if (keepLatency) latencies.push(now - t);
    const s = Math.floor((now - start) / 1_000);
    perSecond[s] = (perSecond[s] ?? 0) + 1;
    handled++;
    return Promise.resolve();
  },
});
process.on("SIGTERM", async () => {
  await consumer.stop(5_000);
  await bus.close();
  store.close();
  process.stdout.write(
    `${
      JSON.stringify({
        handled,
        lockErrors,
        start,
        perSecond: Array.from(perSecond, (n) => n ?? 0),
        latencies: latencies.map((l) => Math.round(l * 1_000) / 1_000),
      })
    }\n`,
  );
  process.exit(0);
});
