// markActive (contacts.ts) clears a private chat and its own topics (`<chat>/<topic>`) and
// nothing else: not a chat whose id merely starts with the same digits, not a negative group's topics, not another
// agent's rows. Real libSQL file.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { markActive, markInactive } from "../../src/agents/channel/contacts.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

describe("markActive's key range", () => {
  it("clears `<user>` and `<user>/<topic>` only", async () => {
    const { dir, cleanup } = await tempDir("aideazz-mark-active-");
    const store = await openStore({ url: `file:${join(dir, "c.db")}` });
    try {
      await migrate(store.client);
      const keys = ["42", "42/7", "42/100", "420", "4200/1", "421/3", "4", "4/2", "-42", "-42/7", "-1001234/5", "42 ", "42-1"];
      for (const k of keys) await store.client.execute(markInactive("tg", k, "blocked the bot", 1));
      await store.client.execute(markInactive("other", "42/7", "blocked the bot", 1));
      await store.client.execute(markActive("tg", "42", 2));
      const rs = await store.client.execute(
        "SELECT agent || ':' || chat_id AS k FROM channel_contacts WHERE inactive_at IS NULL ORDER BY k",
      );
      expect(rs.rows.map((r) => String(r["k"]))).toEqual(["tg:42", "tg:42/100", "tg:42/7"]);
    } finally {
      store.close();
      await cleanup();
    }
  });
});
