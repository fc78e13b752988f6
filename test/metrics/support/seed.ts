/**
 * Fills a store with an hour of realistic traffic written the production way: one registry, writer and flush
 * loop per agent with an injected clock (one flush per 10 s of simulated time), 13 earlier days of spend, agent
 * heartbeats, a restart, and a few traces. Seeded randomness, so every run writes the same numbers.
 */
import {
  BREAKER_STATE_VALUE,
  createFlushLoop,
  createMetrics,
  createMetricsWriter,
  DEFAULT_METRICS_CONFIG,
  type FlushLoop,
  M,
  type Metrics,
  retentionOf,
} from "../../../src/metrics/mod.ts";
import { migrate, openStore } from "../../../src/store/mod.ts";
import { createTracer, newTraceId } from "../../../src/trace/mod.ts";

/** mulberry32: a tiny seeded PRNG. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SeedResult {
  traceIds: string[];
  /** Totals written, for assertions. */
  messagesIn: number;
  messagesOut: number;
  cacheHits: number;
  cacheLookups: number;
  /** Router decisions, and those that failed (a message every provider failed on its last attempt). */
  decisions: number;
  failed: number;
  /** Milliseconds of write-lock hold observed, all agents. */
  lockHeldMs: number;
}

export const SEED_AGENTS = [
  { name: "telegram-support", kind: "telegram", pid: 2101 },
  { name: "orchestrator", kind: "orchestrator", pid: 2102 },
  { name: "analytics", kind: "analytics", pid: 2103 },
] as const;

interface Agent {
  metrics: Metrics;
  loop: FlushLoop;
}

/** Seeds the store at `url` with the hour before `now` (and 13 days of spend before that). */
export async function seedStore(url: string, now: number, minutes = 60): Promise<SeedResult> {
  const store = await openStore({ url });
  await migrate(store.client);
  const random = seeded(42);
  const retention = retentionOf(DEFAULT_METRICS_CONFIG);
  let clock = now - minutes * 60_000;
  const agent = (name: string): Agent => {
    const metrics = createMetrics();
    const loop = createFlushLoop({
      client: store.client,
      sources: [createMetricsWriter({ metrics, agent: name, retention })],
      intervalMs: 10_000,
      now: () => clock,
    });
    metrics.inc(M.agentStarts);
    return { metrics, loop };
  };
  const totals = { messagesIn: 0, messagesOut: 0, cacheHits: 0, cacheLookups: 0, lockHeldMs: 0, decisions: 0, failed: 0 };

  // Spend of the 13 previous UTC days, written by an orchestrator of those days (hourly rollups are kept 90 days).
  const day = 86_400_000;
  const past = agent("orchestrator");
  for (let d = 13; d >= 1; d--) {
    clock = Math.floor(now / day) * day - d * day + 12 * 3_600_000;
    past.metrics.inc(
      M.cost,
      { provider: "claude", model: "claude-haiku" },
      d === 4 ? 3.6 : 0.6 + random() * 1.8,
    );
    await past.loop.flush();
  }

  clock = now - minutes * 60_000;
  let tg = agent("telegram-support");
  const orch = agent("orchestrator");
  const an = agent("analytics");
  const restartAt = Math.floor(minutes * 0.66) * 6;
  // From 20 s after the window's start to 10 s before its end, so every flush is inside a window of `minutes`.
  for (let step = 0; step < minutes * 6 - 2; step++) {
    clock = now - minutes * 60_000 + 20_000 + step * 10_000;
    if (step === restartAt) {
      await tg.loop.flush();
      tg = agent("telegram-support"); // a restart: new process, new registry
    }
    const wave = 1 + Math.sin(step / 40);
    const arrivals = Math.round(wave * 3 + random() * 3);
    for (let i = 0; i < arrivals; i++) {
      tg.metrics.inc(M.messagesIn, { channel: "telegram" });
      tg.metrics.observe(M.ackLatency, 3 + random() * 30, { channel: "telegram" });
      tg.metrics.inc(M.httpRequests, { method: "POST", route: "/telegram/webhook", status: "200" });
      totals.messagesIn++;
      // Each message's writes: the channel's ingress, the orchestrator's turn (ms, for a visible share).
      for (const [a, held] of [[tg, 20], [orch, 40]] as const) {
        a.metrics.observe(M.storeLockWait, random() * 5);
        a.metrics.observe(M.storeLockHold, held);
        totals.lockHeldMs += held;
      }
      const hit = random() < 0.62;
      orch.metrics.inc(M.cacheLookups, { result: hit ? "hit" : "miss" });
      totals.cacheLookups++;
      if (hit) totals.cacheHits++;
      // A sampled share of the hits is checked; some checks disagree.
      if (hit && random() < 0.05) {
        orch.metrics.inc(M.cacheChecks);
        if (random() < 0.2) orch.metrics.inc(M.cacheFalseHits);
      }
      const r = random();
      const [tier, provider, model] = hit
        ? ["simple", "cache", "-"]
        : r < 0.55
        ? ["simple", "groq", "llama-3.1-8b-instant"]
        : r < 0.85
        ? ["complex", "claude", "claude-haiku"]
        : ["simple", "local", "qwen2.5-0.5b"];
      orch.metrics.inc(M.routerDecisions, { tier: tier!, provider: provider!, outcome: "answered" });
      totals.decisions++;
      if (!hit) {
        const latency = provider === "claude" ? 900 + random() * 1_500 : 250 + random() * 700;
        orch.metrics.inc(M.providerRequests, { provider: provider!, model: model!, outcome: "ok" });
        orch.metrics.observe(M.providerLatency, latency, { provider: provider!, model: model! });
        orch.metrics.inc(
          M.tokens,
          { provider: provider!, model: model!, direction: "input" },
          300 + Math.round(random() * 400),
        );
        orch.metrics.inc(
          M.tokens,
          { provider: provider!, model: model!, direction: "output" },
          80 + Math.round(random() * 200),
        );
        if (provider === "claude") {
          orch.metrics.inc(M.cost, { provider: "claude", model: "claude-haiku" }, 0.0012);
        }
      }
      const slow = step > minutes * 3 && step < minutes * 3 + 30; // a slow spell in the middle
      const reply = (hit ? 40 + random() * 80 : 600 + random() * 1_800) * (slow ? 3 : 1);
      if (random() < 0.985) {
        tg.metrics.inc(M.messagesOut, { channel: "telegram" });
        tg.metrics.observe(M.replyLatency, reply, { channel: "telegram" });
        totals.messagesOut++;
      } else {
        tg.metrics.inc(M.sendErrors, { platform: "telegram", code: random() < 0.7 ? "429" : "403" });
      }
    }
    if (random() < 0.05) {
      orch.metrics.inc(M.providerRequests, {
        provider: "groq",
        model: "llama-3.1-8b-instant",
        outcome: "429",
      });
    }
    if (random() < 0.02) tg.metrics.inc(M.duplicatesSuppressed, { stage: "ingress" });
    const progress = step / (minutes * 6);
    orch.metrics.set(M.quotaHeadroom, 1 - progress * 0.55, {
      provider: "groq",
      model: "llama-3.1-8b-instant",
      window: "rpd",
    });
    orch.metrics.set(M.quotaHeadroom, 0.35 + 0.5 * random(), {
      provider: "groq",
      model: "llama-3.1-8b-instant",
      window: "rpm",
    });
    orch.metrics.set(M.quotaHeadroom, 0.08 + 0.05 * random(), {
      provider: "claude",
      model: "claude-haiku",
      window: "tpm",
    });
    orch.metrics.set(M.budgetLeft, 3 - progress * 1.4, { period: "day" });
    orch.metrics.set(M.budgetLeft, 41 - progress * 1.4, { period: "month" });
    orch.metrics.set(
      M.breakerState,
      step > minutes * 4 && step < minutes * 4 + 12 ? BREAKER_STATE_VALUE.open : BREAKER_STATE_VALUE.closed,
      { provider: "groq" },
    );
    orch.metrics.set(M.busDepth, Math.round(random() * 4 * wave), {
      topic: "inbound",
      group: "orchestrator",
      state: "ready",
    });
    orch.metrics.set(M.busDeadLetters, step > minutes * 5 ? 2 : 1, {
      topic: "inbound",
      group: "orchestrator",
    });
    // One message dead-lettered in the hour, and Claude not called once for want of budget (no randomness used).
    if (step === minutes * 5 + 1) {
      orch.metrics.inc(M.busHandled, { topic: "inbound", group: "orchestrator", outcome: "dead" });
      orch.metrics.inc(M.routerDecisions, { tier: "simple", provider: "none", outcome: "failed" });
      totals.decisions++;
      totals.failed++;
      orch.metrics.inc(M.providerRequests, { provider: "claude", model: "claude-haiku", outcome: "skipped_budget" });
    }
    tg.metrics.set(M.rss, 61e6 + step * 12_000 + random() * 2e6);
    orch.metrics.set(M.rss, 88e6 + step * 30_000 + random() * 3e6);
    an.metrics.set(M.rss, 58e6 + random() * 1e6);
    an.metrics.inc(M.httpRequests, { method: "GET", route: "/", status: "200" });
    for (const a of [tg, orch, an]) await a.loop.flush();
  }

  // Heartbeats as the agents' flush loops leave them, and a few traces.
  for (const a of SEED_AGENTS) {
    await store.client.execute({
      sql:
        `INSERT INTO agent_heartbeats (agent, pid, version, started_at, seen_at) VALUES (?, ?, '0.1.0', ?, ?)
            ON CONFLICT (agent) DO UPDATE SET pid = excluded.pid, started_at = excluded.started_at, seen_at = excluded.seen_at`,
      args: [
        a.name,
        a.pid,
        a.name === "telegram-support" ? now - (minutes * 60_000) / 3 : now - 3 * 3_600_000,
        now - 2_000,
      ],
    });
  }
  const traceIds: string[] = [];
  const tracers = {
    tg: createTracer({ agent: "telegram-support", now: () => now }),
    orch: createTracer({ agent: "orchestrator", now: () => now }),
  };
  for (let i = 0; i < 6; i++) {
    const id = newTraceId((n) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256)), () => now);
    traceIds.push(id);
    const t0 = now - (6 - i) * 47_000;
    const chat = `telegram-support:${1000 + (i % 3)}`;
    tracers.tg.event(id, "received", { platformId: String(9000 + i) }, { at: t0, chat });
    tracers.tg.event(id, "stored", { busId: 100 + i }, { at: t0 + 3 });
    tracers.orch.event(id, "claimed", { attempt: 1 }, { at: t0 + 12 });
    tracers.orch.event(id, "cache", { result: i % 2 === 0 ? "hit" : "miss" }, { at: t0 + 14 });
    if (i % 2 === 1) {
      tracers.orch.event(id, "route", { tier: "simple", reason: "short question" }, { at: t0 + 15 });
      tracers.orch.event(id, "provider", { provider: "groq", status: "ok" }, {
        at: t0 + 16,
        durationMs: 640,
      });
    }
    tracers.orch.event(id, "reply_queued", {}, { at: t0 + (i % 2 === 1 ? 660 : 20) });
    if (i === 5) {
      tracers.tg.event(id, "dead_letter", { error: "403 bot was blocked by the user" }, { at: t0 + 700 });
    } else {tracers.tg.event(id, "sent", { platformMessageId: String(5000 + i) }, {
        at: t0 + (i % 2 === 1 ? 690 : 45),
        durationMs: 25,
      });}
  }
  const traceLoop = createFlushLoop({
    client: store.client,
    sources: [tracers.tg.source, tracers.orch.source],
    intervalMs: 1_000,
    now: () => now,
  });
  await traceLoop.flush();
  store.close();
  return { traceIds, ...totals };
}
