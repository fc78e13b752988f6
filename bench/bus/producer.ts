// Bench producer process. Mode "max": publish batches back to back (while the backlog is under 50,000).
// Mode "rate": an open-loop schedule of RATE messages/s. Each message carries the wall-clock time just before
// its publish call, for hop latency. Prints a JSON summary.
// Usage: producer.ts DB MODE RATE_OR_BATCH DURATION_MS KEYS ID
import process from "node:process";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { openStore, storeErrorCode } from "../../src/store/mod.ts";
import { percentile } from "../percentile.ts";

const [path, mode, arg, durationArg, keysArg, idArg] = process.argv.slice(2);
const duration = Number(durationArg);
const keys = Number(keysArg);
const id = Number(idArg);
const store = await openStore({ url: `file:${path}` });
const bus = createSqliteBus(store);
const wall = () => performance.timeOrigin + performance.now();
const errors: Record<string, number> = {};
let published = 0;
let calls = 0;
let seq = 0;
const callMs: number[] = [];

async function publish(n: number) {
  const t = wall();
  const msgs = Array.from(
    { length: n },
    () => ({ topic: "bench", key: `p${id}-k${seq++ % keys}`, payload: { t } }),
  );
  try {
    await bus.publish(msgs);
    callMs.push(wall() - t);
    published += n;
    calls++;
  } catch (err) {
    const code = storeErrorCode(err);
    errors[code] = (errors[code] ?? 0) + 1;
  }
}

const start = performance.now();
if (mode === "max") {
  // Back-pressure: keep the backlog bounded (≤ 50,000 messages), so the run measures the rate messages flow
  // through, not how fast an ever-growing backlog can be written.
  const batch = Number(arg);
  const backlog = async () => {
    const rs = await store.client.execute("SELECT coalesce(max(id) - min(id), 0) AS n FROM bus_messages");
    return Number(rs.rows[0]!["n"]);
  };
  while (performance.now() - start < duration) {
    if (calls % 10 === 0) {
      while ((await backlog()) > 50_000 && performance.now() - start < duration) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    await publish(batch);
    // Let the event loop breathe (timers, signals) without sleeping.
    if (calls % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
} else {
  const rate = Number(arg);
  let sent = 0;
  while (performance.now() - start < duration) {
    const due = Math.floor(((performance.now() - start) * rate) / 1_000) - sent;
    if (due > 0) {
      await publish(due);
      sent += due;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
await bus.close();
store.close();
callMs.sort((a, b) => a - b);
const pct = (p: number) => Math.round(percentile(callMs, p) * 1_000) / 1_000;
const publishMs = { p50: pct(50), p99: pct(99), max: pct(100) };
process.stdout.write(
  `${
    JSON.stringify({ published, calls, errors, publishMs, seconds: (performance.now() - start) / 1_000 })
  }\n`,
);
