// RELIABILITY.md F4 (retention): the orchestrator's retention deletes conversation turns and chat inbox rows older
// than `conversation.retentionDays` and keeps the rest — first the purge itself (src/agents/orchestrator/
// conversation.ts) on a real store with the real schema, then a real orchestrator process: it purges soon after
// it starts, not only an hour later (an orchestrator restarted more often than hourly — crash loops, deploys, the
// soak's kill -9 — never purged before f890e94; this test was the repro).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../../bench/system/cluster.ts";
import { createConversations } from "../../src/agents/orchestrator/conversation.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
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
    await s.client.batch([
      { sql: "INSERT INTO conversation_turns (chat, role, text, at) VALUES ('tg1:1', 'user', 'old question', ?)", args: [Date.now() - 3 * DAY] },
      { sql: "INSERT INTO conversation_turns (chat, role, text, at) VALUES ('tg1:1', 'user', 'new question', ?)", args: [Date.now()] },
      ...[["old", 3 * DAY], ["new", 0]].map(([age, ms]) => ({
        sql: `INSERT INTO chat_inbox (agent, platform_id, chat_id, kind, text, received_at, state)
          VALUES ('tg1', ?, '1', 'text', ?, ?, 'answered')`,
        args: [`u-${age}`, `${age} message`, Date.now() - Number(ms)],
      })),
    ], "write");
    s.close();
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
    await dirCleanup?.();
  });

  it("purges turns and chat inbox rows older than retentionDays within seconds of starting", async () => {
    await cluster.startAll();
    const texts = async () => {
      const s = await openStore({ url: `file:${cluster.dbPath}` });
      try {
        const all = async (sql: string) => (await s.client.execute(sql)).rows.map((r) => r["text"]);
        return [
          ...await all("SELECT text FROM conversation_turns ORDER BY id"),
          ...await all("SELECT text FROM chat_inbox ORDER BY seq"),
        ];
      } finally {
        s.close();
      }
    };
    const deadline = Date.now() + 15_000;
    while ((await texts()).length > 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(await texts()).toEqual(["new question", "new message"]);
  }, 60_000);
});
