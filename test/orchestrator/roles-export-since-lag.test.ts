/**
 * `aideazz leads export --since`: a lead write reads its time before it waits for the write lock, so it may commit
 * after an export started with a time before that export's. The next export since that one's start still has it.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLeads, WRITE_LAG_MS } from "../../src/agents/orchestrator/roles/leads.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let db: string;
let store: Store;
const EXPORT_AT = Date.UTC(2026, 10, 1, 12);

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-leads-since-"));
  db = `file:${join(dir, "leads.db")}`;
  store = await openStore({ url: db });
  await migrate(store.client);
});
afterAll(async () => {
  store.close();
  await cleanup();
});

const chats = (stdout: string) => JSON.parse(stdout).map((l: { chat: string }) => l.chat);

describe("leads export --since", () => {
  it("has a lead committed after the previous export though its time is just before that export's start", async () => {
    // The previous export ran at EXPORT_AT and saw no lead; the writes below had read their clocks before it and
    // waited for the lock: one 5 s (the store's busy timeout), one a whole minute earlier (long committed).
    const first = await cli(["leads", "export", "--db", db, "--format", "json"]);
    expect(chats(first.stdout)).toEqual([]);
    await createLeads(store.client, () => EXPORT_AT - 5_000).touch("site:late", "site", "late", "sdr");
    await createLeads(store.client, () => EXPORT_AT - 60_000).touch("site:old", "site", "old", "sdr");
    const since = new Date(EXPORT_AT).toISOString();
    const next = await cli(["leads", "export", "--db", db, "--format", "json", "--since", since]);
    expect(next.code).toBe(0);
    expect(chats(next.stdout)).toEqual(["site:late"]);
  });

  it("reaches back WRITE_LAG_MS, no further", async () => {
    const leads = createLeads(store.client, () => 0);
    const at = Date.UTC(2026, 10, 2, 12);
    expect((await leads.list({ since: at + WRITE_LAG_MS })).map((l) => l.chat)).toEqual([]);
    await createLeads(store.client, () => at).touch("site:edge", "site", "edge", "sdr");
    expect((await leads.list({ since: at + WRITE_LAG_MS })).map((l) => l.chat)).toEqual(["site:edge"]);
    expect((await leads.list({ since: at + WRITE_LAG_MS + 1 })).map((l) => l.chat)).toEqual([]);
  });
});
