// Cache and orchestrator-turn figures for `npm run bench -- router`: exact lookup, lexical (no-model matcher)
// and semantic (embeddings in libSQL, brute-force cosine) lookups at 10k and 50k entries — embedding time
// excluded: the embedder returns a precomputed vector — and one orchestrator turn on a cache hit through the bus.
import { join } from "node:path";
import { rm } from "node:fs/promises";
import { chatKey, INBOUND_TOPIC, outboundTopic } from "../../src/bus/envelopes.ts";
import { createSqliteBus, type Json } from "../../src/bus/mod.ts";
import { orchestrator } from "../../src/agents/orchestrator/agent.ts";
import { runAgent } from "../../src/agents/runtime.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { serve } from "../../src/platform.ts";
import { cacheScope, createResponseCache } from "../../src/router/cache.ts";
import type { Embedder } from "../../src/router/embeddings.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { percentile } from "../percentile.ts";

const DIMS = 384;

function percentiles(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => Math.round(percentile(s, p) * 1000) / 1000;
  return { n: s.length, p50_ms: at(50), p99_ms: at(99) };
}

function seeded(seed: number) {
  let x = seed >>> 0;
  return () => ((x = (x * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const WORDS = "card transfer fee account password reset limit refund order delivery plan price invoice address phone app login"
  .split(" ");

async function lookupBench(dir: string, entries: number) {
  const path = join(dir, `cache-${entries}.db`);
  for (const s of ["", "-wal", "-shm"]) await rm(path + s, { force: true });
  const store = await openStore({ url: `file:${path}` });
  await migrate(store.client);
  const random = seeded(entries);
  const vectors: Float32Array[] = [];
  const prompts: string[] = [];
  // Bulk-load rows in large batches (the cache's own store() would also embed and index one at a time).
  for (let start = 0; start < entries; start += 1000) {
    const stmts = [];
    for (let i = start; i < Math.min(entries, start + 1000); i++) {
      const v = new Float32Array(DIMS).map(() => random() - 0.5);
      vectors.push(v);
      const prompt = `question ${i} about ${WORDS[i % WORDS.length]} and ${WORDS[(i * 7) % WORDS.length]} number ${i}`;
      prompts.push(prompt);
      stmts.push({
        sql: `INSERT INTO cache_entries (key, scope, prompt, answer, answer_group, provider, model, created_at, expires_at, embedding)
              VALUES (?, 's', ?, ?, ?, 'p', 'm', 0, ?, ?)`,
        args: [`k${i}`, prompt, `answer ${i}`, `g${i}`, 9e15, new Uint8Array(v.buffer)],
      });
    }
    await store.client.batch(stmts, "write");
  }
  let vector = vectors[0]!;
  const embedder: Embedder = { model: "precomputed", embed: () => Promise.resolve(vector) };
  const cache = createResponseCache({
    client: store.client, now: () => 1, ttlMs: 1e12, lexicalThreshold: 2, semanticThreshold: 0.99, embedder,
  });
  const exact = createResponseCache({ client: store.client, now: () => 1, ttlMs: 1e12, lexicalThreshold: 0.5, semanticThreshold: 1 });
  await cache.lookup("s", "warm up the lexical index"); // loads the scope's matcher once
  const timesExact: number[] = [];
  const timesLexSem: number[] = [];
  // The exact tier hashes scope + prompt: use the cache's own key scheme by storing through it.
  await exact.store("exact-scope", "How long does delivery take?", "Three days.", { provider: "p", model: "m" });
  for (let i = 0; i < 300; i++) {
    let t = performance.now();
    await exact.lookup("exact-scope", "how long does delivery take");
    timesExact.push(performance.now() - t);
    const j = Math.floor(random() * entries);
    vector = vectors[j]!;
    t = performance.now();
    // lexicalThreshold 2 (unreachable) so every lookup runs exact → lexical → semantic in full.
    const hit = await cache.lookup("s", `${prompts[j]} please`);
    timesLexSem.push(performance.now() - t);
    if (hit?.tier !== "semantic") throw new Error(`expected a semantic hit, got ${JSON.stringify(hit)}`);
  }
  store.close();
  return { entries, exact: percentiles(timesExact), exact_lexical_semantic: percentiles(timesLexSem) };
}

async function turnBench(dir: string, turns: number) {
  const path = join(dir, "turn.db");
  for (const s of ["", "-wal", "-shm"]) await rm(path + s, { force: true });
  const config = loadConfig(JSON.stringify({
    store: { url: `file:${path}` },
    roles: { support: { kind: "support", systemPrompt: "Support." } },
    agents: [{ name: "web", kind: "webchat", role: "support", port: 1 }, { name: "orchestrator", kind: "orchestrator", port: 0 + 18_990 }],
    conversation: { perUserPerMinute: 1_000_000 },
    cache: { checkShare: 0 },
  }), {});
  const agent = await runAgent({
    agent: config.agents[1]!, definition: orchestrator as never, config, dbUrl: config.store.url, secrets: {},
    log: createLogger({ agent: "orchestrator", secrets: [], write: () => {} }), version: "bench", now: Date.now,
    fetch, serve, rssBytes: () => 0, pid: 0,
  });
  // Prime the cache with the answer every turn will hit.
  const prime = createResponseCache({ client: agent.store.client, now: Date.now, ttlMs: 1e12, lexicalThreshold: 0.5, semanticThreshold: 1 });
  await prime.store(cacheScope("support", "Support."), "How long does delivery take?", "Three days.", { provider: "p", model: "m" });
  const store = await openStore({ url: config.store.url });
  const bus = createSqliteBus(store);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const done = Promise.withResolvers<void>();
  const consumer = bus.consume({
    topic: outboundTopic("web"),
    group: "egress",
    concurrency: 32,
    handler: (d) => {
      const chat = (d.payload as { chatId: string }).chatId;
      latencies.push(performance.now() - sentAt.get(chat)!);
      if (latencies.length === turns && sentAt.size > 300) done.resolve();
      return Promise.resolve();
    },
  });
  const publish = (i: number) => {
    const chat = `c${i}`;
    sentAt.set(chat, performance.now());
    return bus.publish([{
      topic: INBOUND_TOPIC, key: chatKey("web", chat), idempotencyKey: `bench:${i}`,
      payload: { channel: "webchat", agent: "web", chatId: chat, userId: chat, platformId: `p${i}`, kind: "text", text: "how long does delivery take?", sentAt: Date.now(), receivedAt: Date.now() } as Json,
    }]);
  };
  // One at a time: the latency of a turn on an idle system.
  for (let i = 0; i < 300; i++) {
    const before = latencies.length;
    await publish(i);
    while (latencies.length === before) await new Promise((r) => setTimeout(r, 0));
  }
  const idle = percentiles(latencies.splice(0));
  // Then as fast as the orchestrator takes them: throughput of cache-hit turns.
  const started = performance.now();
  for (let i = 0; i < turns; i++) await publish(1_000 + i);
  await done.promise;
  const seconds = (performance.now() - started) / 1000;
  await consumer.stop(1000);
  await bus.close();
  store.close();
  await agent.stop();
  return { idle: idle, burst: { turns, turns_per_s: Math.round(turns / seconds), ...percentiles(latencies) } };
}

export async function benchCache(dir: string) {
  const lookups = [];
  for (const n of [10_000, 50_000]) lookups.push(await lookupBench(dir, n));
  const turn = await turnBench(dir, 2_000);
  return { lookups, orchestrator_turn_cache_hit: turn };
}
