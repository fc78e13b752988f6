// A real agent-like process for flush tests: counts as fast as a timer allows and flushes every INTERVAL ms with
// the production flush loop. After each committed flush it prints "committed <total at collect time>".
// Usage: deno run -A flusher-process.ts <dbUrl> <agent> <intervalMs> <durationMs (0 = until killed)>
import {
  createFlushLoop,
  createMetrics,
  createMetricsWriter,
  DEFAULT_METRICS_CONFIG,
  retentionOf,
} from "../../../src/metrics/mod.ts";
import { openStore } from "../../../src/store/mod.ts";

const [url, agent, intervalText, durationText] = Deno.args;
const store = await openStore({ url: url! });
const metrics = createMetrics();
let total = 0;
let collected = 0;
const loop = createFlushLoop({
  client: store.client,
  sources: [createMetricsWriter({ metrics, agent: agent!, retention: retentionOf(DEFAULT_METRICS_CONFIG) })],
  intervalMs: Number(intervalText),
  now: Date.now,
  beforeFlush: () => (collected = total),
});
const ticker = setInterval(() => {
  metrics.inc("test_ticks_total");
  total++;
}, 2);
const started = Date.now();
const duration = Number(durationText);
console.log("ready");
while (duration === 0 || Date.now() - started < duration) {
  await new Promise((r) => setTimeout(r, Number(intervalText)));
  const report = await loop.flush();
  if (report.ok) console.log(`committed ${collected}`);
  else console.log(`failed ${report.error}`);
}
clearInterval(ticker);
const last = await loop.stop();
console.log(last.ok ? `final ${total}` : `failed ${last.error}`);
store.close();
