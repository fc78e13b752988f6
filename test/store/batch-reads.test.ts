// Lookups issued in one tick share one statement: the orchestrator's claimed turns read their chat inbox rows, saved
// answers, recent turns and exact cache entries together, and count their users' messages with one statement.
// Checked on the helper, and on each of those against a real store.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createConversations } from "../../src/agents/orchestrator/conversation.ts";
import { createUserLimits, type LimitVerdict } from "../../src/agents/orchestrator/limits.ts";
import { createResponseCache } from "../../src/router/cache.ts";
import { createInbox } from "../../src/agents/orchestrator/experience/inbox.ts";
import {
  batchReads,
  type Client,
  type InStatement,
  migrate,
  openStore,
  type Store,
} from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

describe("batchReads", () => {
  it("answers the lookups of one tick with one load of their distinct keys, and a later tick with another", async () => {
    const loads: string[][] = [];
    const values = new Map([["a", 1], ["b", 2]]);
    const read = batchReads<number>((keys) => {
      loads.push(keys);
      return Promise.resolve(
        new Map(keys.flatMap((k) => (values.has(k) ? [[k, values.get(k)!] as const] : []))),
      );
    });
    expect(await Promise.all([read("a"), read("b"), read("a"), read("missing")])).toEqual([
      1,
      2,
      1,
      undefined,
    ]);
    expect(await read("b")).toBe(2);
    expect(loads).toEqual([["a", "b", "missing"], ["b"]]);
  });

  it("rejects every lookup of a failed load with its error; the next tick loads again", async () => {
    let fail = true;
    const read = batchReads<string>((keys) =>
      fail
        ? Promise.reject(new Error("SQLITE_BUSY: database is locked"))
        : Promise.resolve(new Map(keys.map((k) => [k, k])))
    );
    const results = await Promise.allSettled([read("a"), read("b")]);
    expect(results.map((r) => r.status === "rejected" && String(r.reason))).toEqual([
      "Error: SQLITE_BUSY: database is locked",
      "Error: SQLITE_BUSY: database is locked",
    ]);
    fail = false;
    expect(await read("a")).toBe("a");
  });

  it("rejects every lookup when the load throws before returning a promise", async () => {
    const read = batchReads<string>(() => {
      throw new Error("bad statement");
    });
    const results = await Promise.allSettled([read("a"), read("b")]);
    expect(results.map((r) => r.status === "rejected" && String(r.reason))).toEqual([
      "Error: bad statement",
      "Error: bad statement",
    ]);
  });
});

describe("the orchestrator's lookups at the start of a turn", () => {
  let store: Store | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    store?.close();
    await cleanup?.();
  });

  /** A migrated store, and its client counting the statements it runs. */
  async function counted(): Promise<{ client: Client; statements: string[] }> {
    const tmp = await tempDir("aideazz-batch-");
    cleanup = tmp.cleanup;
    store = await openStore({ url: `file:${join(tmp.dir, "b.db")}` });
    await migrate(store.client);
    const statements: string[] = [];
    const real = store.client;
    const client = new Proxy(real, {
      get(target, prop) {
        if (prop === "execute") {
          return (stmt: InStatement) => {
            statements.push(typeof stmt === "string" ? stmt : stmt.sql);
            return target.execute(stmt);
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    return { client, statements };
  }

  it("reads the chat inbox rows of turns started together with one statement, each turn its own row", async () => {
    const { client, statements } = await counted();
    await client.execute(
      `INSERT INTO chat_inbox (agent, platform_id, chat_id, kind, text, received_at, state, reply_key)
      VALUES ('tg1', '7', 'c1', 'text', 'hello', 1, 'pending', NULL), ('tg1', '8', 'c2', 'text', 'hi', 2, 'answered', '5:answer'),
        ('wa1', '7', 'c3', 'command', '/start', 3, 'pending', NULL)`,
    );
    statements.length = 0;
    const inbox = createInbox(client);
    const rows = await Promise.all([
      inbox.get("tg1", "7"),
      inbox.get("tg1", "8"),
      inbox.get("wa1", "7"),
      inbox.get("wa1", "9"),
    ]);
    expect(rows.map((r) => r && [r.platformId, r.text, r.state, r.replyKey ?? null, r.kind])).toEqual([
      ["7", "hello", "pending", null, "text"],
      ["8", "hi", "answered", "5:answer", "text"],
      ["7", "/start", "pending", null, "command"],
      undefined,
    ]);
    expect(statements).toHaveLength(1);
  });

  it("reads the answers saved for turns started together with one statement", async () => {
    const { client, statements } = await counted();
    const conversations = createConversations(client);
    await client.batch(
      [
        ...conversations.saveStatements("c1", 11, { role: "user", text: "q1", at: 1 }, {
          role: "assistant",
          text: "a1",
          at: 2,
        }),
        ...conversations.saveStatements("c2", 12, { role: "user", text: "q2", at: 3 }, {
          role: "assistant",
          text: "a2",
          at: 4,
        }),
      ],
      "write",
    );
    statements.length = 0;
    expect(await Promise.all([11, 12, 13].map((id) => conversations.answerFor(id)))).toEqual([
      "a1",
      "a2",
      undefined,
    ]);
    expect(statements).toHaveLength(1);
  });

  it("reads the recent turns of chats asked for together with one statement, each chat its own last turns", async () => {
    const { client, statements } = await counted();
    const conversations = createConversations(client);
    const save = (chat: string, id: number, q: string, a: string) =>
      conversations.saveStatements(chat, id, { role: "user", text: q, at: id }, { role: "assistant", text: a, at: id + 1 });
    await client.batch([...save("c1", 1, "q1", "a1"), ...save("c2", 2, "q2", "a2"), ...save("c1", 3, "q3", "a3")], "write");
    statements.length = 0;
    const [c1, c2, c3, c1Short] = await Promise.all([
      conversations.recent("c1", 1_000),
      conversations.recent("c2", 1_000),
      conversations.recent("c3", 1_000),
      conversations.recent("c1", 1), // one token: only the last turn fits, an answer without its question: none
    ]);
    expect(c1.map((t) => `${t.role}:${t.text}@${t.at}`)).toEqual(["user:q1@1", "assistant:a1@2", "user:q3@3", "assistant:a3@4"]);
    expect(c2.map((t) => t.text)).toEqual(["q2", "a2"]);
    expect(c3).toEqual([]);
    expect(c1Short).toEqual([]);
    expect(statements).toHaveLength(1);
    // maxTurns 3: a1, q3, a3, from the user's turn on
    expect((await conversations.recent("c1", 1_000, 3)).map((t) => t.text)).toEqual(["q3", "a3"]);
  });

  it("looks up the exact cache entries of turns asked together with one statement; an expired entry is a miss", async () => {
    const { client, statements } = await counted();
    let t = 1_000;
    const cache = createResponseCache({ client, now: () => t, ttlMs: 60_000, lexicalThreshold: 0.99, semanticThreshold: 0.99 });
    await cache.store("s", "where is my card", "It ships in 3 days.", { provider: "groq", model: "m" });
    t = 30_000;
    await cache.store("s", "how do I reset my password", "Use the link.", { provider: "groq", model: "m" });
    t = 62_000; // the first entry expired
    statements.length = 0;
    const hits = await Promise.all([cache.lookup("s", "How do I reset my password?"), cache.lookup("s", "where is my card")]);
    expect(hits.map((h) => h && [h.tier, h.answer])).toEqual([["exact", "Use the link."], null]);
    expect(statements.filter((sql) => sql.includes("cache_entries AS c"))).toHaveLength(1);
  });
});

describe("the per-user message counts of turns started together", () => {
  it("are one statement; each message has its own place in its user's count", async () => {
    const tmp = await tempDir("aideazz-limits-batch-");
    const store = await openStore({ url: `file:${join(tmp.dir, "l.db")}` });
    try {
      await migrate(store.client);
      let writes = 0;
      const client = new Proxy(store.client, {
        get(target, prop) {
          if (prop === "execute") return (stmt: InStatement) => (writes++, target.execute(stmt));
          if (prop === "batch") {
            return (stmts: InStatement[], mode: "write") => (writes++, target.batch(stmts, mode));
          }
          const v = Reflect.get(target, prop);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
      const limits = createUserLimits({ client, now: () => 90_000, perMinute: 3, dailyTokens: 1_000 });
      const users = ["tg:1", "tg:2", "tg:1", "tg:1", "tg:1", "tg:2"];
      const verdicts = await Promise.all(users.map((u) => limits.admit(u)));
      // tg:1's first three in the order asked are admitted, its fourth refused with the minute's one notice.
      expect(verdicts).toEqual([
        { ok: true },
        { ok: true },
        { ok: true },
        { ok: true },
        { ok: false, reason: "rate", notify: true },
        { ok: true },
      ]);
      expect(writes).toBe(2); // the count (with the read of it), and the claim of the notice
      expect(await limits.admit("tg:2")).toEqual({ ok: true });
      expect(await limits.admit("tg:2")).toEqual({ ok: false, reason: "rate", notify: true }); // tg:2's 4th: its notice
      expect(await limits.admit("tg:2")).toEqual({ ok: false, reason: "rate", notify: false });
    } finally {
      store.close();
      await tmp.cleanup();
    }
  });

  it("give every message the verdict that counting them one by one gives, across minutes", async () => {
    const tmp = await tempDir("aideazz-limits-same-");
    const stores = await Promise.all(["one.db", "batch.db"].map((f) => openStore({ url: `file:${join(tmp.dir, f)}` })));
    try {
      let t = 0;
      const [one, batch] = await Promise.all(stores.map(async (st) => {
        await migrate(st.client);
        return createUserLimits({ client: st.client, now: () => t, perMinute: 3, dailyTokens: 1_000 });
      }));
      // The end of a minute, the start of the next (the previous minute's count carried), then two minutes later.
      const moments: [number, string[]][] = [
        [59_000, ["tg:1", "tg:1", "tg:2", "tg:1"]],
        [61_000, ["tg:1", "tg:2", "tg:1", "tg:1", "tg:2"]],
        [185_000, ["tg:1", "tg:1", "tg:2"]],
      ];
      const all: LimitVerdict[] = [];
      for (const [at, users] of moments) {
        t = at;
        const sequential: LimitVerdict[] = [];
        for (const u of users) sequential.push(await one!.admit(u));
        expect(await Promise.all(users.map((u) => batch!.admit(u)))).toEqual(sequential);
        all.push(...sequential);
      }
      // Admitted, refused with the minute's notice, refused in silence: every case was there.
      expect(all.map((v) => (v.ok ? "ok" : v.notify ? "notice" : "silent"))).toEqual([
        "ok", "ok", "ok", "ok",
        "notice", "ok", "silent", "silent", "ok",
        "ok", "ok", "ok",
      ]);
      const rows = (st: Store) => st.client.execute("SELECT user_key, minute, count, prev_count, notified_at FROM user_rate ORDER BY 1");
      const [a, b] = await Promise.all(stores.map(rows));
      expect(b!.rows).toEqual(a!.rows);
      expect(a!.rows.map((r) => Number(r["count"]))).toEqual([2, 1]); // tg:1 and tg:2 in their last minute
    } finally {
      for (const st of stores) st.close();
      await tmp.cleanup();
    }
  });
});
