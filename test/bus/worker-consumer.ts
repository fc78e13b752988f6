// A consumer process for the crash, poison and contention tests. Each handler call first records itself in
// `test_handled` (message, key, producer and sequence number, fence, attempt, pid) with its own write, then
// acks; a poison message records the attempt time in `test_attempts` and throws. Every log line mentioning a
// lock error is counted. SIGTERM stops it gracefully and prints a JSON summary; `ready` is printed once it is
// handled (a SIGTERM before that would end the process without one).
// Usage: worker-consumer.ts DB_PATH LEASE_MS CONCURRENCY [HANDLER_MAX_SLEEP_MS]
import process from "node:process";
import { createSqliteBus, type Delivery } from "../../src/bus/mod.ts";
import { createLogger } from "../../src/log.ts";
import { openStore } from "../../src/store/mod.ts";

const [path, leaseArg, concurrencyArg, sleepArg] = process.argv.slice(2);
const maxSleep = Number(sleepArg ?? 0);
const store = await openStore({ url: `file:${path}` });
let lockErrors = 0;
let handled = 0;
const log = createLogger({
  agent: `consumer-${process.pid}`,
  secrets: [],
  level: "warn",
  write: (line) => {
    if (/SQLITE_BUSY|SQLITE_LOCKED/.test(line)) lockErrors++;
    if (!line.includes("poison pill")) process.stderr.write(line);
  },
});
const consumerId = `pid-${process.pid}`;
const bus = createSqliteBus(store, { log, consumerId });

async function handler(d: Delivery) {
  const payload = d.payload as { p?: number; n?: number; poison?: boolean };
  if (payload.poison) {
    await store.client.execute({
      sql: "INSERT INTO test_attempts (msg_id, attempt, at) VALUES (?, ?, ?)",
      args: [d.id, d.attempt, Date.now()],
    });
    throw new Error("poison pill: cannot parse this update");
  }
  await store.client.execute({
    sql:
      "INSERT INTO test_handled (msg_id, okey, p, n, fence, attempt, pid, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    args: [d.id, d.key, payload.p ?? -1, payload.n ?? -1, d.fence, d.attempt, process.pid, Date.now()],
  });
  handled++;
  if (maxSleep > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * maxSleep));
}

const consumer = bus.consume({
  topic: "work",
  group: "g",
  handler,
  leaseMs: Number(leaseArg),
  concurrency: Number(concurrencyArg),
  maxAttempts: 5,
  retryBaseMs: 100,
});

process.on("SIGTERM", async () => {
  await consumer.stop(5_000);
  const rs = await store.client.execute({
    sql: "SELECT count(*) AS n FROM bus_deliveries WHERE state = 1 AND consumer = ?",
    args: [consumerId],
  });
  await bus.close();
  store.close();
  process.stdout.write(
    `${
      JSON.stringify({ pid: process.pid, handled, lockErrors, leasedAfterStop: Number(rs.rows[0]!["n"]) })
    }\n`,
  );
  process.exit(0);
});
process.stdout.write("ready\n");
