// Migration 76 puts back `user_usage`, the per-user limits table of the releases before 2026-11-28, so such a release
// runs on this schema during a rolling restart or a rollback: it writes a row per user and day (user_key
// `whatsapp:<phone>`). Nothing of this release reads it, so retention must purge it as user_rate and user_tokens.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const DAY = 86_400_000;

describe("F4: the previous release's per-user limits table", () => {
  it("its rows naming users are purged past retentionDays like user_rate and user_tokens", async () => {
    const { dir, cleanup } = await tempDir("aideazz-user-usage-");
    try {
      const config = loadConfig(JSON.stringify({
        store: { url: `file:${join(dir, "u.db")}` },
        roles: { support: { kind: "support", systemPrompt: "Support." } },
        agents: [{ name: "orchestrator", kind: "orchestrator", port: await freePort() }],
        conversation: { retentionDays: 1 },
        metrics: { flushIntervalMs: 60_000 },
      }), {});
      const s = await openStore({ url: config.store.url });
      await migrate(s.client);
      const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
      const old = Date.now() - 5 * DAY;
      // What an older orchestrator wrote (its columns), five days ago and today, and this release's record of that day.
      const usage = `INSERT INTO user_usage (user_key, day, minute, minute_count, tokens) VALUES (?, ?, ?, 1, 120)`;
      await s.client.batch([
        { sql: usage, args: ["whatsapp:15551230001", day(old), Math.floor(old / 60_000)] },
        { sql: usage, args: ["whatsapp:15551230002", day(Date.now()), Math.floor(Date.now() / 60_000)] },
        { sql: "INSERT INTO user_tokens (user_key, day, tokens) VALUES (?, ?, 120)", args: ["whatsapp:15551230001", day(old)] },
      ], "write");
      const count = async (table: string) =>
        Number((await s.client.execute(`SELECT count(*) AS n FROM ${table}`)).rows[0]!["n"]);
      const agent = await runTestAgent({ config, name: "orchestrator", secrets: {} });
      try {
        const deadline = Date.now() + 5_000;
        while ((await count("user_usage")) > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(await count("user_tokens")).toBe(0); // the retention pass ran
        const left = await s.client.execute("SELECT user_key FROM user_usage");
        expect(left.rows.map((r) => r["user_key"])).toEqual(["whatsapp:15551230002"]); // today's row stays
      } finally {
        await agent.stop();
        s.close();
      }
    } finally {
      await cleanup();
    }
  }, 30_000);
});
