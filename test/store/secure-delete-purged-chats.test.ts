// Sixty days of short WhatsApp turns (~40 bytes: no overflow pages), 100 a day, with the hourly retention (the real
// `purgeBefore`) at 30 days: users who stopped writing after day 19 have no row left. B-tree balancing copies live
// cells into other pages and frees the old ones; with secure_delete=FAST a freed page kept those stale copies, and
// their phone numbers (chat keys) and texts stayed in the file. ON zeroes freed pages too.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createConversations } from "../../src/agents/orchestrator/conversation.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

const DAY = 86_400_000;

let store: Store | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  store?.close();
  await cleanup?.();
  store = undefined;
});

/** A small deterministic PRNG (mulberry32): the same chats every run. */
function prng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("secure_delete: purged conversations", () => {
  it("no phone number or text of a user whose turns retention deleted is left in the checkpointed file", async () => {
    const tmp = await tempDir("aideazz-purged-file-");
    cleanup = tmp.cleanup;
    const path = join(tmp.dir, "p.db");
    store = await openStore({ url: `file:${path}` });
    await migrate(store.client);
    const conversations = createConversations(store.client);
    const random = prng(7);
    const t0 = Date.UTC(2026, 0, 1);
    const retentionDays = 30;
    let inbound = 0;
    for (let day = 0; day < 60; day++) {
      const statements = [];
      for (let k = 0; k < 100; k++) {
        // 200 users until day 19 (+44 7910 …), then 200 others (+44 7920 …).
        const phone = `4479${(day < 20 ? 10_000_000 : 20_000_000) + Math.floor(random() * 200)}`;
        const at = t0 + day * DAY + k * 60_000;
        inbound++;
        statements.push(...conversations.saveStatements(
          `wa1:${phone}`,
          inbound,
          { role: "user", text: `NOTE${String(day).padStart(2, "0")}-${inbound} my order is late`, at },
          { role: "assistant", text: `Sorry to hear that (${inbound}).`, at: at + 1_000 },
        ));
      }
      await store.client.batch(statements, "write");
      // The orchestrator's hourly pass, once a simulated day here; a checkpoint now and then, as retention does.
      await conversations.purgeBefore(t0 + (day + 1) * DAY - retentionDays * DAY);
      if (day % 5 === 0) await store.checkpoint();
    }
    expect(await store.checkpoint()).toBe(true);
    const oldUsers = await store.client.execute("SELECT count(*) AS n FROM conversation_turns WHERE chat LIKE 'wa1:447910%'");
    expect(oldUsers.rows[0]!["n"]).toBe(0); // nothing of the first 200 users is stored any more

    const file = (await readFile(path)).toString("latin1");
    const phones = new Set([...file.matchAll(/447910\d{6}/g)].map((m) => m[0]));
    const notes = new Set(
      [...file.matchAll(/NOTE(\d\d)-\d+/g)].filter((m) => Number(m[1]) < 29).map((m) => m[0]),
    );
    expect({ phones: phones.size, texts: notes.size, e: [...phones].slice(0, 3), t: [...notes].slice(0, 3) })
      .toEqual({ phones: 0, texts: 0, e: [], t: [] });
  }, 60_000);
});
