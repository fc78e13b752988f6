// During a rolling restart a newer channel agent may publish an inbound message this orchestrator cannot read only
// because it carries a value a later release added (a new message kind): it waits on the bus, uncounted, for the
// orchestrator's upgrade, with one warning. A malformed message is dead-lettered at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatKey, INBOUND_TOPIC } from "../../src/bus/envelopes.ts";
import type { Json } from "../../src/bus/mod.ts";
import { type Harness, startHarness } from "./harness.ts";

let h: Harness;
beforeAll(async () => (h = await startHarness()));
afterAll(() => h?.close());

const message = (chatId: string, extra: Record<string, Json>) => ({
  topic: INBOUND_TOPIC,
  key: chatKey("web", chatId),
  payload: {
    channel: "webchat", agent: "web", chatId, userId: chatId, platformId: `p-${chatId}`, kind: "text",
    text: "hello", sentAt: Date.now(), receivedAt: Date.now(), ...extra,
  },
});

describe("an orchestrator of the previous release during the rolling restart", () => {
  it("keeps a message of a kind only a newer release knows, and dead-letters a malformed one", async () => {
    const [newer] = await h.bus.publish([message("c1", { kind: "sticker" })]);
    const { chatId: _, ...noChat } = message("c2", {}).payload;
    await h.bus.publish([{ ...message("c2", {}), payload: noChat }]);
    await h.ask("c3", "when are you open?");
    await h.waitForReplies(1); // the consumer has been at work

    const end = Date.now() + 10_000;
    let dead = await h.bus.deadLetters({ topic: INBOUND_TOPIC });
    while (dead.length === 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      dead = await h.bus.deadLetters({ topic: INBOUND_TOPIC });
    }
    expect(dead.map((d) => [d.key, d.attempts])).toEqual([[chatKey("web", "c2"), 1]]);
    expect(dead[0]!.lastError).toMatch(/PermanentError: inbound message is malformed: chatId: /);

    const rows = (await h.store.client.execute({
      sql: "SELECT attempts, due_at, last_error FROM bus_deliveries WHERE msg_id = ?",
      args: [newer!.id],
    })).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0]!["attempts"]).toBe(0); // uncounted
    expect(Number(rows[0]!["due_at"])).toBeGreaterThan(Date.now() + 20_000);
    expect(String(rows[0]!["last_error"])).toMatch(/inbound message from a newer aideazz/);
    const warnings = h.logs.filter((l) => l.includes("inbound message from a newer aideazz: upgrade this agent"));
    expect(warnings).toHaveLength(1);
    expect(h.replies.map((r) => r.chatId)).toEqual(["c3"]);
  });
});
