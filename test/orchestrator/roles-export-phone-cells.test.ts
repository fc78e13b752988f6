/**
 * `aideazz leads export`: CSV cells starting with + or - get a leading ', as a spreadsheet would compute them.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLeads } from "../../src/agents/orchestrator/roles/leads.ts";
import { leadsToCsv } from "../../src/agents/orchestrator/roles/export.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let db: string;
const T0 = Date.UTC(2026, 10, 1, 12);

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-leads-phone-"));
  db = `file:${join(dir, "leads.db")}`;
  const store = await openStore({ url: db });
  await migrate(store.client);
  const leads = createLeads(store.client, () => T0);
  const a = await leads.touch("site:a", "site", "a", "sdr");
  // A US number as visitors type it, and a "budget" a visitor typed as a range.
  await leads.update(a.id, {
    fields: { name: "Ann Lee", contact: "+1-555-123-4567", budget: "-10-20" },
    score: 40,
    stage: "engaged",
    reason: "collected name, contact",
  });
  store.close();
});
afterAll(() => cleanup());

describe("phone-like cells", () => {
  // Excel and Google Sheets read "+1-555-123-4567" as the number -5244 and "-10-20" as -30.
  it("a phone number with + and dashes is not left for the spreadsheet to compute", async () => {
    const r = await cli(["leads", "export", "--db", db, "--format", "csv"]);
    expect(r.code).toBe(0);
    const row = r.stdout.split("\r\n")[1]!.split(",");
    const header = r.stdout.split("\r\n")[0]!.split(",");
    const contact = row[header.indexOf("contact")]!;
    const budget = row[header.indexOf("budget")]!;
    expect({ contact, budget }).toEqual({ contact: "'+1-555-123-4567", budget: "'-10-20" });
  });

  it("leadsToCsv prefixes a phone number starting with +", () => {
    const csv = leadsToCsv([{
      id: 1,
      chat: "site:b",
      agent: "site",
      chatId: "b",
      role: "sdr",
      fields: { contact: "+44-20-7946-0958" },
      known: { contact: "+44-20-7946-0958" },
      score: 20,
      stage: "engaged",
      turns: 1,
      createdAt: T0,
      updatedAt: T0,
      qualifiedAt: undefined,
    }]);
    expect(csv).toContain(",'+44-20-7946-0958,");
  });
});
