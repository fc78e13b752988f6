// `forget` waits for work under way on the chat by the times the agents stored (publish, lease end, send intent), and
// a trace flush after them.
import { afterEach, describe, expect, it } from "vitest";
import { forgetChat } from "../../src/agents/forget.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { freshDb, type TestDb } from "../bus/helpers.ts";

let db: TestDb | undefined;
afterEach(async () => {
  await db?.cleanup();
  db = undefined;
});

describe("forget: how long it waits for the agents", () => {
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
