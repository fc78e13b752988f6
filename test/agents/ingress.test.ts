// The webhooks of one event-loop turn share one ingress write (src/agents/channel/ingress.ts): one bus publish and
// one chat-inbox INSERT for all of them, on a real store and bus. Each caller still gets its own outcome: its
// fresh keys, its duplicates, its own failure.
import { join } from "node:path";
import { createClient, LibsqlError } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createIngress, type IngressBatch } from "../../src/agents/channel/mod.ts";
import type { InboundMessage } from "../../src/bus/envelopes.ts";
import { type AlsoCommit, type Bus, createSqliteBus } from "../../src/bus/mod.ts";
import { createInbox } from "../../src/agents/orchestrator/experience/inbox.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { createTracer } from "../../src/trace/mod.ts";
import { tempDir } from "../support/tmp.ts";

const now = () => 1_700_000_000_000;
let store: Store;
let path: string;
let cleanup: () => Promise<void>;
/** The messages of each publish the ingress made. */
let publishes: string[][];

beforeEach(async () => {
  const tmp = await tempDir("aideazz-ingress-");
  cleanup = tmp.cleanup;
  path = join(tmp.dir, "ingress.db");
  store = await openStore({ url: `file:${path}` });
  await migrate(store.client);
  publishes = [];
});
afterEach(async () => {
  store.close();
  await cleanup();
});

function ingressOn(bus: Bus) {
  const recording: Bus = {
    ...bus,
    publish: (messages, also?: AlsoCommit) => {
      publishes.push(messages.map((m) => m.idempotencyKey ?? ""));
      return bus.publish(messages, also);
    },
  };
  const metrics = createMetrics();
  return createIngress({ bus: recording, tracer: createTracer({ agent: "tg", now }), metrics, channel: "telegram", now });
}

function batch(platformId: string, rows: IngressBatch["rows"] = [], chatId = `c${platformId}`, text = `hello ${platformId}`): IngressBatch {
  const message: InboundMessage = {
    channel: "telegram", agent: "tg", chatId, userId: "u", platformId, kind: "text", text, sentAt: now(), receivedAt: now(),
  };
  return { inbound: [{ message, idempotencyKey: `telegram:tg:${platformId}` }], outbound: [], rows };
}

const inbox = async () =>
  (await store.client.execute(
    "SELECT i.platform_id, m.idem_key FROM chat_inbox i LEFT JOIN bus_messages m ON m.id = i.bus_id ORDER BY i.seq",
  )).rows.map((r) => [r["platform_id"], r["idem_key"]]);

describe("ingress", () => {
  it("commits the batches of one turn with one publish; each caller gets its own fresh keys", async () => {
    const commit = ingressOn(createSqliteBus(store, { now }));
    const results = await Promise.all(["1", "2", "3"].map((id) => commit(batch(id), now())));
    expect(results.map((r) => [...r.fresh])).toEqual([["telegram:tg:1"], ["telegram:tg:2"], ["telegram:tg:3"]]);
    expect(publishes).toEqual([["telegram:tg:1", "telegram:tg:2", "telegram:tg:3"]]);
    // Each inbox row, in order, points at the bus message it was published as.
    expect(await inbox()).toEqual([["1", "telegram:tg:1"], ["2", "telegram:tg:2"], ["3", "telegram:tg:3"]]);

    const again = await commit(batch("2"), now()); // a redelivery, in a later turn
    expect([again.fresh.size, again.duplicates]).toEqual([0, 1]);
    expect(await inbox()).toHaveLength(3);
  });

  it("stores a message that two batches of one turn carry once: the later batch's duplicate", async () => {
    const commit = ingressOn(createSqliteBus(store, { now }));
    const [first, second] = await Promise.all([commit(batch("7"), now()), commit(batch("7"), now())]);
    expect([[...first!.fresh], first!.duplicates]).toEqual([["telegram:tg:7"], 0]);
    expect([[...second!.fresh], second!.duplicates]).toEqual([[], 1]);
    expect(await inbox()).toEqual([["7", "telegram:tg:7"]]);
  });

  it("fails only the batch whose row breaks a constraint; the others of its turn commit", async () => {
    const commit = ingressOn(createSqliteBus(store, { now }));
    const broken = { sql: "INSERT INTO channel_contacts (agent, chat_id, updated_at) VALUES ('tg', NULL, 0)" };
    const results = await Promise.allSettled([
      commit(batch("1"), now()),
      commit(batch("2", [broken]), now()),
      commit(batch("3"), now()),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/NOT NULL constraint failed/);
    // The shared write failed as a whole, then each batch was tried alone.
    expect(publishes).toEqual([
      ["telegram:tg:1", "telegram:tg:2", "telegram:tg:3"],
      ["telegram:tg:1"],
      ["telegram:tg:2"],
      ["telegram:tg:3"],
    ]);
    expect(await inbox()).toEqual([["1", "telegram:tg:1"], ["3", "telegram:tg:3"]]);
    const stored = await store.client.execute("SELECT idem_key FROM bus_messages ORDER BY id");
    expect(stored.rows.map((r) => r["idem_key"])).toEqual(["telegram:tg:1", "telegram:tg:3"]);
  });

  it("keeps a chat's order when a failing batch is retried alone while the lock is held elsewhere", async () => {
    const commit = ingressOn(createSqliteBus(store, { now }));
    const other = createClient({ url: `file:${path}` });
    const held = await other.transaction("write"); // another process's write: ours wait for the lock
    const broken = { sql: "INSERT INTO channel_contacts (agent, chat_id, updated_at) VALUES ('tg', NULL, 0)" };
    const first = [commit(batch("1", [], "X"), now()), commit(batch("2", [broken], "Y"), now())];
    await new Promise((r) => setTimeout(r, 20));
    const later = commit(batch("3", [], "X"), now()); // the same chat as "1", a turn later
    await new Promise((r) => setTimeout(r, 20));
    await held.rollback();
    other.close();
    const results = await Promise.allSettled([...first, later]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const stored = await store.client.execute("SELECT idem_key FROM bus_messages ORDER BY id");
    expect(stored.rows.map((r) => r["idem_key"])).toEqual(["telegram:tg:1", "telegram:tg:3"]);
  });

  it("stores a text with a lone surrogate as U+FFFD, and the orchestrator reads its inbox row", async () => {
    const commit = ingressOn(createSqliteBus(store, { now }));
    await commit(batch("1", [], "c1", "x\ud800y"), now());
    const row = await createInbox(store.client).get("tg", "1");
    expect(row?.text).toBe("x\ufffdy");
  });

  it("fails every batch of the turn, once, when the store cannot take writes", async () => {
    const full = new LibsqlError("database or disk is full", "SQLITE_FULL");
    const bus = { ...createSqliteBus(store, { now }), publish: () => Promise.reject(full) };
    const commit = ingressOn(bus);
    const results = await Promise.allSettled([commit(batch("1"), now()), commit(batch("2"), now())]);
    expect(results.map((r) => r.status === "rejected" && r.reason)).toEqual([full, full]);
    expect(publishes).toHaveLength(1);
    expect(await inbox()).toEqual([]);
  });
});
