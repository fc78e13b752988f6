// Purging in chunks: every matching row goes, a chunk per statement, and RETURNING rows reach the caller (the local
// writer reports a RETURNING statement's changes as rows, with rowsAffected 0).
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, purgeInChunks, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

describe("purgeInChunks", () => {
  let store: Store | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    store?.close();
    await cleanup?.();
  });

  /** A store with table t of rows (id, at) for the given `at` values, ids from 1. */
  async function tableOf(ats: number[]): Promise<Store> {
    const tmp = await tempDir("aideazz-chunks-");
    cleanup = tmp.cleanup;
    store = await openStore({ url: `file:${join(tmp.dir, "c.db")}` });
    await store.client.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)");
    await store.client.execute(`INSERT INTO t (id, at) VALUES ${ats.map((at, i) => `(${i + 1}, ${at})`).join(", ")}`);
    return store;
  }

  it("deletes every row before the cutoff, two per statement, and hands over what RETURNING gave", async () => {
    const store = await tableOf([10, 20, 30, 40, 50, 60]);
    const seen: number[][] = [];
    const n = await purgeInChunks(
      store.client,
      "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE at < ?1 ORDER BY id LIMIT ?2) RETURNING id",
      55,
      { chunk: 2, onRows: (rows) => seen.push(rows.map((r) => Number(r["id"]))) },
    );
    expect(n).toBe(5);
    expect(seen).toEqual([[1, 2], [3, 4], [5]]);
    const left = await store.client.execute("SELECT id FROM t");
    expect(left.rows.map((r) => Number(r["id"]))).toEqual([6]);
    // Without RETURNING the count comes from rowsAffected.
    await store.client.execute("INSERT INTO t (id, at) VALUES (7, 1), (8, 2), (9, 3)");
    expect(await purgeInChunks(store.client, "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE at < ?1 LIMIT ?2)", 5, { chunk: 2 }))
      .toBe(3);
  });

  it("stops between chunks once its signal is aborted (a stopping agent): the rows left wait for the next pass", async () => {
    const store = await tableOf([10, 20, 30, 40, 50]);
    const stopping = new AbortController();
    const sql = "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE at < ?1 ORDER BY id LIMIT ?2) RETURNING id";
    const n = await purgeInChunks(store.client, sql, 100, { chunk: 2, signal: stopping.signal, onRows: () => stopping.abort() });
    expect(n).toBe(2);
    expect((await store.client.execute("SELECT id FROM t")).rows.map((r) => Number(r["id"]))).toEqual([3, 4, 5]);
    expect(await purgeInChunks(store.client, sql, 100, { chunk: 2, signal: stopping.signal })).toBe(0);
    expect(await purgeInChunks(store.client, sql, 100, { chunk: 2 })).toBe(3);
  });
});
