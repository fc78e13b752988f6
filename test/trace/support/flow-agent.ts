// One agent of a message's trip, as its own process with its own store connection, tracer and flush loop.
// The agents coordinate through the store: each waits until the previous agent's stage is stored.
// Usage: deno run -A flow-agent.ts <dbUrl> <role: channel-in | orchestrator | channel-out> <traceId> <chatId> <base epoch ms>
import { createFlushLoop } from "../../../src/metrics/mod.ts";
import { openStore } from "../../../src/store/mod.ts";
import { createTracer } from "../../../src/trace/mod.ts";

const [url, role, traceId, chatId, baseText] = Deno.args as [string, string, string, string, string];
const base = Number(baseText);
const store = await openStore({ url });
const agent = role === "orchestrator" ? "orchestrator" : "telegram-support";
const tracer = createTracer({ agent, now: Date.now });
const loop = createFlushLoop({
  client: store.client,
  sources: [tracer.source],
  intervalMs: 50,
  now: Date.now,
});
loop.start();

async function waitForStage(stage: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const rs = await store.client.execute({
      sql: "SELECT count(*) AS n FROM trace_events WHERE trace_id = ? AND stage = ?",
      args: [traceId, stage],
    });
    if (Number(rs.rows[0]?.["n"]) > 0) return;
    if (Date.now() > deadline) throw new Error(`${role}: ${stage} never appeared`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const at = (ms: number) => ({ at: base + ms });
if (role === "channel-in") {
  tracer.event(traceId, "received", { platformId: "812", user: "42" }, {
    ...at(0),
    chat: `telegram-support:${chatId}`,
  });
  tracer.event(traceId, "stored", { busId: 17 }, at(4));
} else if (role === "orchestrator") {
  await waitForStage("stored");
  tracer.event(traceId, "claimed", { group: "orchestrator", attempt: 1 }, at(15));
  tracer.event(traceId, "cache", { result: "miss", reason: "no similar question" }, at(16));
  tracer.event(traceId, "route", { tier: "simple", chain: "groq,claude", reason: "short question" }, at(17));
  tracer.event(traceId, "provider", { provider: "groq", status: 429 }, { ...at(18), durationMs: 120 });
  tracer.event(traceId, "retry", { provider: "claude", reason: "429 from groq" }, at(140));
  tracer.event(traceId, "provider", { provider: "claude", status: "ok" }, { ...at(141), durationMs: 900 });
  tracer.event(traceId, "reply_queued", { topic: "outbound.telegram-support", busId: 18 }, at(1_045));
} else {
  await waitForStage("reply_queued");
  tracer.event(traceId, "sent", { platformMessageId: "msg-77" }, { ...at(1_080), durationMs: 35 });
}
const report = await loop.stop();
store.close();
console.log(report.ok ? "done" : `failed ${report.error}`);
