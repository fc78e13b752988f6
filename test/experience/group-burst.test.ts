// Burst coalescing in a group chat (several users in one chat): one user's quick messages are one turn, another
// user's message is never folded into it; through the real orchestrator, with a fake Groq.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatKey, INBOUND_TOPIC, type InboundMessage } from "../../src/bus/envelopes.ts";
import type { Json } from "../../src/bus/mod.ts";
import { inboxInsert } from "../../src/agents/channel/inbox.ts";
import { newTraceId } from "../../src/trace/mod.ts";
import { type Harness, startHarness } from "../orchestrator/harness.ts";

describe("burst coalescing in a group chat", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 30_000);
  afterAll(async () => {
    await h?.close();
  });

  it("does not answer two users' messages as one burst", async () => {
    const chatId = "-100500";
    const entries = [["alice", "do you ship to Canada?"], ["bob", "what is your refund policy?"]].map(([user, text], i) => {
      const id = `g${i}-${Math.random()}`;
      const message: InboundMessage = {
        channel: "webchat", agent: "web", chatId, userId: user!, platformId: id, kind: "text", text: text!,
        sentAt: Date.now(), receivedAt: Date.now(),
      };
      return { message, idempotencyKey: `webchat:${id}`, traceId: newTraceId() };
    });
    const published = await h.bus.publish(
      entries.map(({ message, idempotencyKey, traceId }) => ({
        topic: INBOUND_TOPIC, key: chatKey("web", chatId), payload: message as unknown as Json, idempotencyKey, traceId,
      })),
      { after: [inboxInsert(entries)] },
    );
    const ids = published.map((p) => p.id);
    await h.waitForReplies(1, 15_000);
    await new Promise((r) => setTimeout(r, 2_500));
    const finals = h.replies.filter((r) => r.chatId === chatId && r.partial === undefined);
    // Bob's message gets a turn of its own, not folded into Alice's (the group's conversation is shared context).
    const asked = h.groq.requests.slice(-2).map((r) =>
      (r.json as { messages: { role: string; content: string }[] }).messages.at(-1)!.content
    );
    expect({ modelCalls: h.modelCalls(), inReplyTo: finals.map((f) => f.inReplyTo), asked }).toEqual({
      modelCalls: 2,
      inReplyTo: [[ids[0]], [ids[1]]],
      asked: ["do you ship to Canada?", "what is your refund policy?"],
    });
  }, 30_000);
});
