// A message that arrives while the previous turn's model call is in flight
// is answered after it, in order, with that exchange in its history; a /reset sent then forgets the exchange the
// turn in flight saves; a message sent while a failed burst waits for its retry joins the burst's one answer.
import { afterEach, expect, it } from "vitest";
import { chatKey, INBOUND_TOPIC, type InboundMessage } from "../../src/bus/envelopes.ts";
import type { Json } from "../../src/bus/mod.ts";
import { inboxInsert } from "../../src/agents/channel/inbox.ts";
import { newTraceId } from "../../src/trace/mod.ts";
import { type Harness, startHarness } from "./harness.ts";

let h: Harness;
afterEach(async () => {
  await h?.close();
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits (at most 10 s) until the fake Groq has had `n` model calls. */
async function modelCalled(n: number) {
  for (let i = 0; i < 200 && h.modelCalls() < n; i++) await sleep(50);
  expect(h.modelCalls()).toBe(n);
}
let n = 0;
/** Stores and publishes a web chat message as the channel's ingress does (bus and chat inbox, one write). */
async function send(chatId: string, text: string) {
  const id = `x${++n}-${Math.random()}`;
  const message: InboundMessage = {
    channel: "webchat", agent: "web", chatId, userId: chatId, platformId: id, kind: text.startsWith("/") ? "command" : "text", text,
    sentAt: Date.now(), receivedAt: Date.now(),
  };
  const idempotencyKey = `webchat:${id}`;
  const traceId = newTraceId();
  const [r] = await h.bus.publish([{
    topic: INBOUND_TOPIC, key: chatKey("web", chatId), payload: message as unknown as Json, idempotencyKey, traceId,
  }], { after: [inboxInsert([{ message, idempotencyKey, traceId }])] });
  return r!.id;
}
const dialogue = (i: number) =>
  (h.groq.requests[i]!.json as { messages: { role: string; content: string }[] }).messages.filter((m) => m.role !== "system");

it("a message sent during the previous turn's model call: both answered in order, the second with the first in its history", async () => {
  h = await startHarness();
  h.groq.script({ kind: "ok", text: "Answer A.", delayMs: 1500 }, { kind: "ok", text: "Answer B." });
  const a = await send("c1", "Tell me about the refund policy");
  await modelCalled(1); // A's quiet window is over; its model call runs
  const b = await send("c1", "and for monthly plans?");
  const replies = await h.waitForReplies(2, 15_000);
  expect(replies.map((r) => [r.text, r.inReplyTo])).toEqual([["Answer A.", [a]], ["Answer B.", [b]]]);
  expect(dialogue(1)).toEqual([
    { role: "user", content: "Tell me about the refund policy" },
    { role: "assistant", content: "Answer A." },
    { role: "user", content: "and for monthly plans?" },
  ]);
}, 30_000);

it("/reset sent during a turn's model call: the turn's answer is sent, then forgotten", async () => {
  h = await startHarness();
  h.groq.script({ kind: "ok", text: "Answer A.", delayMs: 1500 }, { kind: "ok", text: "Answer C." });
  await send("c1", "Tell me about the refund policy");
  await modelCalled(1);
  await send("c1", "/reset");
  await sleep(100);
  await send("c1", "and for monthly plans?");
  const replies = await h.waitForReplies(3, 15_000);
  expect(replies.map((r) => r.text)).toEqual(["Answer A.", "Done: I've forgotten our conversation. How can I help?", "Answer C."]);
  expect(dialogue(1)).toEqual([{ role: "user", content: "and for monthly plans?" }]);
}, 30_000);

it("a burst whose model call failed: a message sent before the retry is in the retry's one answer", async () => {
  h = await startHarness({ conversation: { retryBaseMs: 2000 } });
  h.groq.script({ kind: "server_error" }, { kind: "ok", text: "Answer all." });
  const ids = [await send("c1", "Hi, my order 1234")];
  await sleep(200);
  ids.push(await send("c1", "has not arrived"));
  await sleep(1000);
  ids.push(await send("c1", "hello??"));
  await h.waitForReplies(2, 20_000);
  await sleep(1500);
  expect(h.replies.map((r) => [r.kind, r.inReplyTo])).toEqual([["fallback", ids], ["answer", ids]]);
  expect(h.modelCalls()).toBe(2);
}, 40_000);
