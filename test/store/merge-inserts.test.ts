// The round's writes of one shape as multi-row INSERTs (the orchestrator's turns riding on their acks): what they
// write must be exactly what the statements one by one write, with fewer statements.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type InStatement, mergeWrites, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

const SCHEMA = [
  "CREATE TABLE log (id INTEGER PRIMARY KEY, chat TEXT NOT NULL, v TEXT NOT NULL)",
  "CREATE TABLE state (k TEXT PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL)",
];
/** A turn's write: two rows in one statement, then an upsert that keeps an answered row as it is. */
const turn = (chat: string, text: string): InStatement[] => [
  { sql: "INSERT INTO log (chat, v) VALUES (?, ?), (?, ?)", args: [chat, `q ${text}`, chat, `a ${text}`] },
  {
    sql: `INSERT INTO state (k, v, n) VALUES (?, ?, ?)
      ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = state.n + excluded.n WHERE state.v <> 'done'`,
    args: [chat, text, 1],
  },
];

describe("mergeWrites", () => {
  const stores: Store[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) s.close();
    for (const c of cleanups.splice(0)) await c();
  });

  async function fresh(): Promise<Store> {
    const tmp = await tempDir("aideazz-merge-");
    cleanups.push(tmp.cleanup);
    const store = await openStore({ url: `file:${join(tmp.dir, "m.db")}` });
    stores.push(store);
    await store.client.batch([...SCHEMA, "INSERT INTO state (k, v, n) VALUES ('c1', 'done', 5), ('c2', 'x', 5)"], "write");
    return store;
  }
  const contents = async (s: Store) => [
    (await s.client.execute("SELECT chat, v FROM log ORDER BY id")).rows.map((r) => `${r["chat"]}:${r["v"]}`),
    (await s.client.execute("SELECT k, v, n FROM state ORDER BY k")).rows.map((r) => `${r["k"]}=${r["v"]}/${r["n"]}`),
  ];

  it("writes what the statements one by one write, one statement per INSERT of the shape", async () => {
    const writes = ["c1", "c2", "c3"].map((chat, i) => turn(chat, `t${i}`));
    const merged = mergeWrites(writes);
    // Two writes' rows per INSERT (chunks are powers of two), then the third write's statements as they were.
    expect(merged.map((s) => typeof s !== "string" && s.args)).toEqual([
      ["c1", "q t0", "c1", "a t0", "c2", "q t1", "c2", "a t1"],
      ["c3", "q t2", "c3", "a t2"],
      ["c1", "t0", 1, "c2", "t1", 1],
      ["c3", "t2", 1],
    ]);
    expect(merged[2]).toMatchObject({ sql: expect.stringMatching(/VALUES \(\?, \?, \?\), \(\?, \?, \?\)\s+ON CONFLICT/) });
    expect(merged[1]).toBe(writes[2]![0]);
    const [one, other] = [await fresh(), await fresh()];
    await one.client.batch(writes.flat(), "write");
    await other.client.batch(merged, "write");
    expect(await contents(other)).toEqual(await contents(one));
    expect(await contents(other)).toEqual([
      ["c1:q t0", "c1:a t0", "c2:q t1", "c2:a t1", "c3:q t2", "c3:a t2"],
      ["c1=done/5", "c2=t1/6", "c3=t2/1"], // the answered row kept; the other updated; the new one inserted
    ]);
  });

  it("merges 100 writes in chunks of 64, 32 and 4 rows", () => {
    const merged = mergeWrites(Array.from({ length: 100 }, (_, i) => [turn(`c${i}`, "t")[1]!]));
    expect(merged.map((s) => (typeof s === "string" ? 0 : (s.args as unknown[]).length / 3))).toEqual([64, 32, 4]);
  });

  it("leaves alone what it cannot merge: RETURNING, numbered or named arguments, INSERT … SELECT, UPDATE", () => {
    const alone: InStatement[][] = [
      [{ sql: "INSERT INTO log (chat, v) VALUES (?, ?) RETURNING id", args: ["c", "v"] }],
      [{ sql: "INSERT INTO log (chat, v) VALUES (?1, ?2)", args: ["c", "v"] }],
      [{ sql: "INSERT INTO log (chat, v) VALUES (:chat, :v)", args: { chat: "c", v: "v" } }],
      [{ sql: "INSERT INTO log (chat, v) SELECT ?, ?", args: ["c", "v"] }],
      [{ sql: "UPDATE state SET v = ? WHERE k = ?", args: ["v", "k"] }],
      // A constant row after the parameters' (merged, it would be written once per chunk, not once per write).
      [{ sql: "INSERT INTO log (chat, v) VALUES (?, ?), ('c', 'const')", args: ["c", "v"] }],
      // A named parameter in the ON CONFLICT clause (merged, it would take the next write's first argument).
      [{ sql: "INSERT INTO state (k, v, n) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE SET n = :n", args: ["k", "v", 0, 5] }],
      // Fewer arguments than `?` (merged, the next write's would fill them in).
      [{ sql: "INSERT INTO log (chat, v) VALUES (?, ?)", args: ["c"] }],
    ];
    const writes = [...alone, ...alone];
    expect(mergeWrites(writes)).toEqual(writes.flat());
  });

  it("keeps a merged statement within SQLite's 32,766 parameters", () => {
    const cols = Array.from({ length: 600 }, (_, i) => `c${i}`);
    const wide = { sql: `INSERT INTO wide (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`, args: cols };
    const merged = mergeWrites(Array.from({ length: 64 }, () => [wide]));
    expect(merged.map((s) => (typeof s === "string" ? 0 : (s.args as unknown[]).length / 600))).toEqual([32, 32]);
  });

  it("merges only writes of the same statements in the same order", () => {
    const [a, b] = [turn("c1", "x"), turn("c2", "y")];
    const reversed = [b[1]!, b[0]!];
    expect(mergeWrites([a, reversed])).toEqual([...a, ...reversed]);
    expect(mergeWrites([a, [a[0]!]])).toEqual([...a, a[0]]);
    // Writes of one shape merge only when consecutive: everything else keeps its order.
    const c = turn("c3", "z");
    expect(mergeWrites([a, reversed, c])).toEqual([...a, ...reversed, ...c]);
  });
});
