// `aideazz bus dlq …` against a real libSQL file, dead letters made by a real consumer.
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { outboundTopic } from "../../src/bus/envelopes.ts";
import { cli } from "../support/cli.ts";
import { waitFor } from "./contract.ts";
import { freshDb, type TestDb } from "./helpers.ts";

describe("bus dlq filters and limits", () => {
  let db: TestDb | undefined;
  afterEach(async () => {
    await db?.cleanup();
    db = undefined;
  });

  /** `n` dead letters on `topic` for `group` (distinct keys), made by a consumer whose handler always fails. */
  async function deadLetters(topic: string, group: string, n: number) {
    db ??= await freshDb();
    const bus = createSqliteBus(db.store);
    await bus.subscribe(topic, group);
    await bus.publish(
      Array.from({ length: n }, (_, i) => ({ topic, key: `tg:${i}`, payload: { text: `reply ${i}` } })),
    );
    const c = bus.consume({
      topic,
      group,
      maxAttempts: 1,
      concurrency: 50,
      handler: () => Promise.reject(new Error("Telegram 400: Bad Request: chat not found")),
    });
    await waitFor(async () => (await bus.deadLetters({ limit: 10_000 })).length >= n, `${n} dead letters`, 20_000);
    await c.stop();
    await bus.close();
    return ["--db", `file:${db.path}`];
  }

  it("`bus dlq list --topic outbound` does not answer \"no dead letters\" while outbound.<agent> holds some", async () => {
    // Replies go to `outbound.<agent>`; an operator looking for failed replies types the word they know.
    const dbArgs = await deadLetters(outboundTopic("tg"), "telegram:tg", 3);
    const all = await cli(["bus", "dlq", "list", ...dbArgs]);
    expect(all.stdout).toContain("outbound.tg"); // they are there
    const r = await cli(["bus", "dlq", "list", "--topic", "outbound", ...dbArgs]);
    // Not a false all-clear ("no dead letters", exit 0): no topic "outbound" exists, and the ones that do are named.
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).toContain("outbound.tg");
  });

  it("`bus dlq purge --group <typo>` does not report success (exit 0, \"purged 0\") for a group that does not exist", async () => {
    const dbArgs = await deadLetters("inbound", "orchestrator", 2);
    const r = await cli(["bus", "dlq", "purge", "--group", "orchestrater", ...dbArgs]);
    // Like `bus dlq retry --group <typo>` and `stats --agent <typo>`: exit 1, naming what exists.
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("orchestrator");
  });

  it("`bus dlq list` past its limit says that more dead letters exist than it shows", async () => {
    const dbArgs = await deadLetters("inbound", "orchestrator", 101);
    const r = await cli(["bus", "dlq", "list", ...dbArgs]);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split("\n").slice(1);
    expect(rows).toHaveLength(100); // the default --limit: the 100 oldest
    // The newest dead letter (the incident the operator is looking at) is not shown: stderr says so.
    expect(r.stderr).toBe("bus dlq: showing the oldest 100 of 101 dead letters (--limit N shows more)\n");
  }, 30_000);
});
