/**
 * How the role logic writes to a chat: an `OutboundReply` on the channel agent's outbound topic, with a reply key
 * derived from the inbound message (or the lead), so a redelivered message never sends it twice.
 *
 * @module
 */
import { chatKey, type OutboundReply, outboundTopic, replyIdempotencyKey } from "../../../bus/envelopes.ts";
import type { Bus, Delivery, Json } from "../../../bus/mod.ts";
import type { InStatement } from "../../../store/mod.ts";
import type { Tracer } from "../../../trace/mod.ts";

export interface ChatAddress {
  agent: string;
  chatId: string;
}

export type SendFn = (
  delivery: Delivery,
  to: ChatAddress,
  text: string,
  replyKey: string,
  kind?: OutboundReply["kind"],
) => Promise<void>;

export function createSend(bus: Bus, tracer: Tracer): SendFn {
  return async (delivery, to, text, replyKey, kind = "notice") => {
    const reply: OutboundReply = {
      agent: to.agent,
      chatId: to.chatId,
      text,
      inReplyTo: [delivery.id],
      replyKey,
      kind,
    };
    const message = {
      topic: outboundTopic(to.agent),
      key: chatKey(to.agent, to.chatId),
      payload: reply as unknown as Json,
      idempotencyKey: replyIdempotencyKey(replyKey),
      ...(delivery.traceId ? { traceId: delivery.traceId } : {}),
    };
    await delivery.underLease((guard) => bus.publish([message], { before: guard }));
    tracer.event(delivery.traceId, "reply_queued", { replyKey, kind, to: to.agent });
  };
}

/**
 * A turn saved outside a bot answer (operator relays, messages while paused): the model sees them later. `savedBy`
 * is the bus id of the message being handled: its redelivery (a crash after this write) does not save it twice.
 */
export function turnStatement(
  chat: string,
  role: "user" | "assistant",
  text: string,
  at: number,
  savedBy: number,
): InStatement {
  return {
    sql: `INSERT INTO conversation_turns (chat, role, text, at, inbound_id, saved_by) VALUES (?, ?, ?, ?, NULL, ?)
      ON CONFLICT DO NOTHING`,
    args: [chat, role, text, at, savedBy],
  };
}
