// `forget` waits for work under way on the chat by the times the agents stored (publish, lease end, send intent). A
// wall clock stepped back since (NTP, a restored VM) leaves those in the future: the wait stays bounded by what an
// agent can take (a lease, a send's timeout, a trace flush), not by the size of the step.
import { afterEach, describe, expect, it } from "vitest";
import { forgetChat } from "../../src/agents/forget.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { freshDb, type TestDb } from "../bus/helpers.ts";

let db: TestDb | undefined;
afterEach(async () => {
  await db?.cleanup();
  db = undefined;
});

describe("forget after a clock step back", () => {
  it("waits at most a lease, a send timeout and a trace flush for messages stored an hour 'ahead'", async () => {
    db = await freshDb();
    const ahead = Date.now() + 3_600_000;
    const bus = createSqliteBus(db.store, { now: () => ahead });
    await bus.publish([{ topic: "inbound", key: "wa:15550001111", payload: { chatId: "15550001111", text: "hi" }, idempotencyKey: "whatsapp:wamid.X" }]);
    const waits: number[] = [];
    const r = await forgetChat(db.store.client, { agent: "wa", chatId: "15550001111" }, {
      now: Date.now,
      sleep: (ms) => Promise.resolve(void waits.push(ms)),
      traceFlushMs: 5_000,
    });
    expect(r.counts["bus messages"]).toBe(1);
    expect(waits.length).toBe(1);
    expect(waits[0]).toBeLessThanOrEqual(30_000 + 30_000 + 5_000 + 1_000);
    await bus.close();
  });
  it("a message stored a moment ago with no agent on it: waits for the agents' next trace flush, then deletes again", async () => {
    db = await freshDb();
    const bus = createSqliteBus(db.store);
    await bus.publish([{ topic: "inbound", key: "wa:15550002222", payload: { chatId: "15550002222", text: "hi" }, idempotencyKey: "whatsapp:wamid.Y" }]);
    const waits: number[] = [];
    await forgetChat(db.store.client, { agent: "wa", chatId: "15550002222" }, {
      now: Date.now,
      sleep: (ms) => Promise.resolve(void waits.push(ms)),
      traceFlushMs: 5_000,
    });
    expect(waits.length).toBe(1);
    expect(waits[0]).toBeGreaterThan(4_000);
    expect(waits[0]).toBeLessThanOrEqual(6_000);
    await bus.close();
  });
});
