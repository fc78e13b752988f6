// A separate process hammering the shared store (run by Deno from quota/budget tests): many reservations and
// quota takes at once, so the tests can check that several processes together never overspend or overtake.
// Usage: deno run -A contention-worker.ts <db-url> <budget|quota> <count> <startAtEpochMs>
import { createBudget } from "../../../src/router/budget.ts";
import { createQuota } from "../../../src/router/quota.ts";
import { openStore } from "../../../src/store/mod.ts";

const [url, mode, countText, startText] = Deno.args;
const store = await openStore({ url: url ?? "" });
const count = Number(countText);
const now = () => Date.UTC(2030, 0, 15, 12, 0, 0);
// Start together, so the processes really overlap.
await new Promise((r) => setTimeout(r, Math.max(0, Number(startText) - Date.now())));
let ok = 0;
if (mode === "budget") {
  const budget = createBudget({
    client: store.client,
    now,
    config: {
      dailyUsd: 0.05,
      lowFraction: 0,
      prices: { claude: { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } },
    },
  });
  const results = await Promise.all(
    Array.from(
      { length: count },
      () => budget.reserve("claude", { inputTokens: 1_000, maxOutputTokens: 200 }, "high-value"),
    ),
  );
  ok = results.filter((r) => r !== undefined).length;
} else {
  const quota = createQuota({ client: store.client, now });
  await quota.ensure("groq", "llama", { requestsPerMinute: 30 });
  const results = await Promise.all(Array.from({ length: count }, () => quota.take("groq", "llama", 1)));
  ok = results.filter((r) => r.ok).length;
}
console.log(JSON.stringify({ ok }));
store.close();
