// RELIABILITY.md F4 (retention): the orchestrator's retention deletes conversation turns, chat inbox rows, web chat
// replies, cached prompts, bus dead letters, trace events (their chat ids) and the records that name a user older
// than `conversation.retentionDays`, redacts older handled bus messages, and keeps the rest — first the purges themselves (src/agents/orchestrator/conversation.ts,
// src/agents/webchat/replies.ts, src/router/cache.ts) on a real store with the real schema, then a real orchestrator
// process: it purges soon after it starts, not only an hour later (an orchestrator restarted more often than
// hourly — crash loops, deploys, the soak's kill -9 — never purged before f890e94; this test was the repro).
// The bus's own retention is tested in test/bus/retention.test.ts.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../../bench/system/cluster.ts";
import { createConversations } from "../../src/agents/orchestrator/conversation.ts";
import { purgeRepliesBefore, repliesAfter, storeReply } from "../../src/agents/webchat/replies.ts";
import { REDACTED_PAYLOAD } from "../../src/bus/mod.ts";
import { createResponseCache } from "../../src/router/cache.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const DAY = 86_400_000;
let store: Store;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir("aideazz-f4-retention-"));
  store = await openStore({ url: `file:${join(dir, "r.db")}` });
  await migrate(store.client);
});

afterAll(async () => {
  store?.close();
  await cleanup?.();
});

describe("F4: conversation retention", () => {
  it("deletes every turn older than the TTL, in every chat, and keeps the younger ones and their context", async () => {
    const now = Date.UTC(2026, 10, 28, 12);
    const conversations = createConversations(store.client);
    const ttlDays = 30;
    const ages = [45, 31, 30.01, 29.99, 1, 0]; // days
    const statements = ["tg1:1", "wa1:15550001111"].flatMap((chat) =>
      ages.flatMap((age, i) =>
        conversations.saveStatements(chat, 10_000 + i + (chat.startsWith("wa") ? 100 : 0), {
          role: "user",
          text: `question ${age} days old`,
          at: now - age * DAY,
        }, { role: "assistant", text: `answer ${age} days old`, at: now - age * DAY + 1_000 })
      )
    );
    await store.client.batch(statements, "write");
    const purged = await conversations.purgeBefore(now - ttlDays * DAY);
    expect(purged).toBe(2 * 3 * 2); // 2 chats × 3 old ages × (question + answer)
    const left = await store.client.execute("SELECT chat, text, at FROM conversation_turns ORDER BY chat, at");
    expect(left.rows.every((r) => Number(r["at"]) >= now - ttlDays * DAY)).toBe(true);
    expect(left.rows).toHaveLength(2 * 3 * 2);
    // What a model would see next in a chat: only what the retention kept.
    const recent = await conversations.recent("tg1:1", 10_000);
    expect(recent.map((t) => t.text)).toEqual([
      "question 29.99 days old",
      "answer 29.99 days old",
      "question 1 days old",
      "answer 1 days old",
      "question 0 days old",
      "answer 0 days old",
    ]);
    // A redelivered message whose answer was purged is answered again (no stale answer lookup survives).
    expect(await conversations.answerFor(10_000)).toBeUndefined();
    expect(await conversations.answerFor(10_005)).toBe("answer 0 days old");
  });

  it("deletes web chat replies older than the TTL; the page's poll returns only the younger ones", async () => {
    const now = Date.UTC(2026, 10, 28, 12);
    for (const [i, age] of [31, 29, 0].entries()) {
      await storeReply(store.client, {
        agent: "web",
        chatId: "s1",
        key: `r${i}`,
        kind: "answer",
        text: `you said ${age} days ago`,
        now: now - age * DAY,
      });
    }
    expect(await purgeRepliesBefore(store.client, now - 30 * DAY)).toBe(1);
    expect((await repliesAfter(store.client, "web", "s1", 0)).map((r) => r.text)).toEqual([
      "you said 29 days ago",
      "you said 0 days ago",
    ]);
  });

  it("deletes cached prompts older than the TTL, even unexpired, and no longer serves them", async () => {
    let t = Date.UTC(2026, 10, 28, 12);
    const cache = createResponseCache({
      client: store.client,
      now: () => t,
      ttlMs: 7 * DAY,
      lexicalThreshold: 0.5,
      semanticThreshold: 0.92,
    });
    const meta = { provider: "p", model: "m" };
    await cache.store("support/v1/none", "Can I return shoes bought by Ana Silva?", "Yes, within 30 days.", meta);
    t += DAY;
    await cache.store("support/v1/none", "What are your opening hours?", "9 to 5.", meta);
    // The scope's lexical index (in memory) holds the stored prompts too.
    expect((await cache.lookup("support/v1/none", "can i return shoes bought by ana silva"))?.tier).toBe("exact");
    expect((await cache.lookup("support/v1/none", "can I return the shoes bought by Ana Silva"))?.tier)
      .toBe("lexical");
    t += DAY;
    expect(await cache.purgeBefore(t - 1.5 * DAY)).toBe(1);
    expect(await cache.lookup("support/v1/none", "Can I return shoes bought by Ana Silva?")).toBeNull();
    expect(await cache.lookup("support/v1/none", "can I return the shoes bought by Ana Silva")).toBeNull();
    expect((await cache.lookup("support/v1/none", "What are your opening hours?"))?.answer).toBe("9 to 5.");
    const left = await store.client.execute("SELECT prompt FROM cache_entries");
    expect(left.rows.map((r) => r["prompt"])).toEqual(["What are your opening hours?"]);
    // Past its TTL an entry goes at the next pass too, long before retention would take it.
    t += 7 * DAY;
    expect(await cache.purgeBefore(t - 30 * DAY)).toBe(1);
    expect(await cache.lookup("support/v1/none", "what are your opening hours")).toBeNull();
    expect((await store.client.execute("SELECT count(*) AS n FROM cache_entries")).rows[0]!["n"]).toBe(0);
  });
});

describe("F4: conversation retention in a running orchestrator", () => {
  let cluster: Cluster;
  let dirCleanup: () => Promise<void>;

  beforeAll(async () => {
    let dir: string;
    ({ dir, cleanup: dirCleanup } = await tempDir("aideazz-retention-"));
    cluster = await startCluster({
      dir,
      telegram: 0,
      whatsapp: 0,
      analytics: false,
      faq: [{ id: "x", questions: ["x"], answer: "x" }],
      router: () => ({}),
      patchConfig: (c) => void (c["conversation"] = { retentionDays: 1 }),
    });
    const s = await openStore({ url: `file:${cluster.dbPath}` });
    // Bus messages on a topic nobody consumes (their deliveries are done); the oldest one is dead-lettered.
    const busMessage = (id: number, text: string, age: number) => ({
      sql: `INSERT INTO bus_messages (id, topic, okey, payload, idem_key, published_at, visible_at)
        VALUES (?, 'outbound.gone', 'gone:1', json_object('text', ?), ?, ?, ?)`,
      args: [id, text, `reply:${id}`, Date.now() - age, Date.now() - age],
    });
    await s.client.batch([
      busMessage(900_001, "old dead reply", 3 * DAY),
      busMessage(900_002, "old reply", 2 * DAY),
      busMessage(900_003, "new reply", 0),
      {
        sql: `INSERT INTO bus_dead_letters (msg_id, grp, topic, okey, attempts, last_error, dead_at)
          VALUES (900001, 'egress', 'outbound.gone', 'gone:1', 5, 'bad', ?)`,
        args: [Date.now() - 3 * DAY],
      },
      ...[["old", 3 * DAY], ["new", 0]].map(([age, ms]) => ({
        sql: `INSERT INTO webchat_replies (agent, session_id, reply_key, kind, text, created_at)
          VALUES ('web', 's1', ?, 'answer', ?, ?)`,
        args: [`w-${age}`, `${age} web reply`, Date.now() - Number(ms)],
      })),
      ...[["old", 3 * DAY], ["new", 0]].map(([age, ms]) => ({
        sql: `INSERT INTO cache_entries (key, scope, prompt, answer, answer_group, provider, model, created_at,
          expires_at) VALUES (?, 'support/x/none', ?, 'a', 'g', 'p', 'm', ?, ?)`,
        args: [`k-${age}`, `${age} cached prompt`, Date.now() - Number(ms), Date.now() + 7 * DAY],
      })),
      { sql: "INSERT INTO conversation_turns (chat, role, text, at) VALUES ('tg1:1', 'user', 'old question', ?)", args: [Date.now() - 3 * DAY] },
      { sql: "INSERT INTO conversation_turns (chat, role, text, at) VALUES ('tg1:1', 'user', 'new question', ?)", args: [Date.now()] },
      ...[["old", 3 * DAY], ["new", 0]].map(([age, ms]) => ({
        sql: `INSERT INTO chat_inbox (agent, platform_id, chat_id, kind, text, received_at, state)
          VALUES ('tg1', ?, '1', 'text', ?, ?, 'answered')`,
        args: [`u-${age}`, `${age} message`, Date.now() - Number(ms)],
      })),
      // Records without text that name a user or grow per message (src/agents/orchestrator/records.ts).
      ...[["old", 3 * DAY], ["new", 0]].flatMap(([age, ms]) => {
        const at = Date.now() - Number(ms);
        return [
          {
            sql: `INSERT INTO channel_deliveries (agent, message_id, chat_id, status, rank, status_at, updated_at)
              VALUES ('wa1', ?, '15550001111', 'delivered', 2, ?, ?)`,
            args: [`${age}`, at, at],
          },
          {
            sql: `INSERT INTO channel_skipped (agent, platform_id, chat_id, reason, detail, sent_at, recorded_at)
              VALUES ('tg1', ?, '1', 'stale', '{}', ?, ?)`,
            args: [`${age}`, at, at],
          },
          {
            sql: "INSERT INTO channel_contacts (agent, chat_id, last_inbound_at, updated_at) VALUES ('wa1', ?, ?, ?)",
            args: [`${age}`, at, at],
          },
          {
            sql: `INSERT INTO router_decisions (trace_id, agent, at, tier, source, reason, latency_ms)
              VALUES (?, 'orchestrator', ?, 'faq', 'faq', 'faq', 1)`,
            args: [`${age}`, at],
          },
          { sql: "INSERT INTO cache_checks (entry_id, agreed, at) VALUES (?, 1, ?)", args: [age === "old" ? 1 : 2, at] },
          {
            sql: "INSERT INTO user_rate (user_key, minute, count, prev_count) VALUES (?, ?, 1, 0)",
            args: [`whatsapp:${age}`, Math.floor(at / 60_000)],
          },
          {
            sql: "INSERT INTO user_tokens (user_key, day, tokens) VALUES (?, ?, 10)",
            args: [`whatsapp:${age}`, new Date(at).toISOString().slice(0, 10)],
          },
        ];
      }),
      // A trace event's chat id is a phone number on WhatsApp: kept no longer than retentionDays (traceDays is 7).
      ...[["old", 3 * DAY], ["new", 0]].map(([age, ms]) => ({
        sql: `INSERT INTO trace_events (trace_id, agent, stage, at, seq, chat)
          VALUES (?, 'wa1', 'received', ?, 0, 'wa1:15550001111')`,
        args: [`${age} trace`, Date.now() - Number(ms)],
      })),
    ], "write");
    s.close();
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
    await dirCleanup?.();
  });

  it("purges what users wrote older than retentionDays within seconds of starting; old bus rows keep no text", async () => {
    await cluster.startAll();
    const texts = async () => {
      const s = await openStore({ url: `file:${cluster.dbPath}` });
      try {
        const all = async (sql: string) => (await s.client.execute(sql)).rows.map((r) => r["text"]);
        return [
          ...await all("SELECT text FROM conversation_turns ORDER BY id"),
          ...await all("SELECT text FROM chat_inbox ORDER BY seq"),
          ...await all("SELECT text FROM webchat_replies ORDER BY seq"),
          ...await all("SELECT prompt AS text FROM cache_entries ORDER BY id"),
          ...await all("SELECT payload AS text FROM bus_messages WHERE id > 900000 ORDER BY id"),
          ...await all("SELECT 'dead letter ' || msg_id AS text FROM bus_dead_letters"),
          ...await all("SELECT trace_id || ' of ' || chat AS text FROM trace_events WHERE agent = 'wa1'"),
          ...await all(`SELECT 'delivery ' || message_id AS text FROM channel_deliveries
            UNION ALL SELECT 'skipped ' || platform_id FROM channel_skipped
            UNION ALL SELECT 'contact ' || chat_id FROM channel_contacts
            UNION ALL SELECT 'decision ' || trace_id FROM router_decisions
            UNION ALL SELECT 'check ' || entry_id FROM cache_checks
            UNION ALL SELECT 'rate ' || user_key FROM user_rate
            UNION ALL SELECT 'tokens ' || user_key FROM user_tokens`),
        ];
      } finally {
        s.close();
      }
    };
    const expected = [
      "new question",
      "new message",
      "new web reply",
      "new cached prompt",
      REDACTED_PAYLOAD,
      REDACTED_PAYLOAD,
      '{"text":"new reply"}',
      "new trace of wa1:15550001111",
      "delivery new",
      "skipped new",
      "contact new",
      "decision new",
      "check 2",
      "rate whatsapp:new",
      "tokens whatsapp:new",
    ];
    const deadline = Date.now() + 15_000;
    while ((await texts()).join() !== expected.join() && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await texts()).toEqual(expected);
  }, 60_000);
});

describe("F4: cached prompts with the cache turned off", () => {
  it("are purged past retentionDays all the same: they were stored while it was on", async () => {
    const { dir, cleanup: done } = await tempDir("aideazz-retention-cache-off-");
    try {
      const config = loadConfig(JSON.stringify({
        store: { url: `file:${join(dir, "c.db")}` },
        roles: { support: { kind: "support", systemPrompt: "Support." } },
        agents: [{ name: "orchestrator", kind: "orchestrator", port: await freePort() }],
        conversation: { retentionDays: 1 },
        cache: { enabled: false },
        metrics: { flushIntervalMs: 60_000 },
      }), {});
      const s = await openStore({ url: config.store.url });
      await migrate(s.client);
      await s.client.batch([["old", 3 * DAY], ["new", 0]].map(([age, ms]) => ({
        sql: `INSERT INTO cache_entries (key, scope, prompt, answer, answer_group, provider, model,
          created_at, expires_at) VALUES (?, 'support/x/none', ?, 'a', 'g', 'p', 'm', ?, ?)`,
        args: [`k-${age}`, `${age} cached prompt`, Date.now() - Number(ms), Date.now() + 7 * DAY],
      })), "write");
      const prompts = async () =>
        (await s.client.execute("SELECT prompt FROM cache_entries ORDER BY id")).rows.map((r) => r["prompt"]);
      const agent = await runTestAgent({ config, name: "orchestrator", secrets: {} });
      try {
        const deadline = Date.now() + 5_000;
        while ((await prompts()).length > 1 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(await prompts()).toEqual(["new cached prompt"]);
      } finally {
        await agent.stop();
        s.close();
      }
    } finally {
      await done();
    }
  }, 30_000);
});

describe("F4: a stop during a retention pass", () => {
  it("ends the passes after their chunk without failing on the closed store; the next start finishes them", async () => {
    const { dir, cleanup: done } = await tempDir("aideazz-retention-stop-");
    try {
      const config = loadConfig(JSON.stringify({
        store: { url: `file:${join(dir, "s.db")}` },
        roles: { support: { kind: "support", systemPrompt: "Support." } },
        agents: [{ name: "orchestrator", kind: "orchestrator", port: await freePort() }],
        conversation: { retentionDays: 1 },
        metrics: { flushIntervalMs: 60_000 },
      }), {});
      const s = await openStore({ url: config.store.url });
      await migrate(s.client);
      // 40,000 old turns: 20 chunks of 2,000, so the pass is still running when stop() is called.
      for (let i = 0; i < 40; i++) {
        await s.client.execute({
          sql: `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000)
            INSERT INTO conversation_turns (chat, role, text, at) SELECT 'tg1:' || x, 'user', 'old question', ? FROM n`,
          args: [Date.now() - 3 * DAY],
        });
      }
      // And 100,000 old trace events, which every agent deletes a chunk at a time from its start on.
      for (let i = 0; i < 100; i++) {
        await s.client.execute({
          sql: `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000)
            INSERT INTO trace_events (trace_id, agent, stage, at, seq, chat) SELECT 'old' || x, 'tg1', 'received', ?, x, 'tg1:' || x FROM n`,
          args: [Date.now() - 3 * DAY],
        });
      }
      const count = async (table: string) => Number((await s.client.execute(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.["n"]);
      const left = () => count("conversation_turns");
      const traces = () => count("trace_events");
      const logs: string[] = [];
      const log = createLogger({ agent: "orchestrator", secrets: [], write: (l) => logs.push(l) });
      const first = await runTestAgent({ config, name: "orchestrator", secrets: {}, log });
      await first.stop();
      await new Promise((r) => setTimeout(r, 200)); // a chunk failing after stop() would log by now
      expect(logs.filter((l) => l.includes("retention failed"))).toEqual([]);
      expect(await left()).toBeLessThan(40_000); // it had started
      expect(await traces()).toBeLessThan(100_000);
      const second = await runTestAgent({ config, name: "orchestrator", secrets: {}, log });
      try {
        const deadline = Date.now() + 15_000;
        while ((await left()) + (await traces()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(await left()).toBe(0);
        expect(await traces()).toBe(0);
      } finally {
        await second.stop();
        s.close();
      }
      expect(logs.filter((l) => l.includes("retention failed"))).toEqual([]);
    } finally {
      await done();
    }
  }, 60_000);
});
