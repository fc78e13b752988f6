// `aideazz trace … --json`: a list (chat:<id>, --limit N) is an array of timelines however many traces matched (it was
// one bare timeline when only one did); one trace (its id, or `last`) is one timeline.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let url: string;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-trace-json-"));
  url = `file:${join(dir, "t.db")}`;
  store = await openStore({ url });
  await migrate(store.client);
});
afterAll(async () => {
  store.close();
  await cleanup();
});

async function trace(id: string, chat: string, at: number) {
  await store.client.batch([
    {
      sql: "INSERT INTO trace_events (trace_id, agent, stage, at, seq, chat) VALUES (?, 'tg', 'received', ?, 0, ?)",
      args: [id, at, `tg:${chat}`],
    },
    { sql: "INSERT INTO trace_events (trace_id, agent, stage, at, seq) VALUES (?, 'orch', 'claimed', ?, 1)", args: [id, at + 5] },
  ], "write");
}

describe("trace --json of a list of traces", () => {
  it("chat:<id> and last --limit N always print an array of timelines, whether one trace or several matched", async () => {
    const now = Date.now();
    await trace("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1", now - 3_000); // chat 1: one trace
    await trace("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "2", now - 2_000); // chat 2: two traces
    await trace("cccccccccccccccccccccccccccccccc", "2", now - 1_000);
    const isTimelines = (v: unknown) => Array.isArray(v) && v.every((t) => Array.isArray(t));

    const two = await cli(["trace", "chat:2", "--json", "--db", url]);
    expect(two.code).toBe(0);
    expect(isTimelines(JSON.parse(two.stdout))).toBe(true);

    const one = await cli(["trace", "chat:1", "--json", "--db", url]);
    expect(one.code).toBe(0);
    expect(isTimelines(JSON.parse(one.stdout))).toBe(true);

    for (const limit of ["3", "1"]) {
      const last = await cli(["trace", "last", "--limit", limit, "--json", "--db", url]);
      expect(JSON.parse(last.stdout)).toHaveLength(Number(limit));
      expect(isTimelines(JSON.parse(last.stdout))).toBe(true);
    }
    // One trace: its events.
    const single = JSON.parse((await cli(["trace", "aaaaaaaa", "--json", "--db", url])).stdout);
    expect(single.map((e: { stage: string }) => e.stage)).toEqual(["received", "claimed"]);
  });
});
