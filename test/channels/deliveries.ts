// Hand-made outbound deliveries for the egress handler's tests: a reply, and the bus's delivery of it.
import type { OutboundReply } from "../../src/bus/envelopes.ts";
import { type Delivery, LeaseLostError } from "../../src/bus/types.ts";

/** The bus's delivery of `payload`; `lost`: its lease was taken over, every guarded write refused. */
export function delivery(
  payload: OutboundReply,
  o: { fence?: number; attempt?: number; lost?: boolean; signal?: AbortSignal } = {},
): Delivery {
  return {
    id: 1,
    topic: "outbound.x",
    group: "egress",
    key: `x:${payload.chatId}`,
    payload: payload as never,
    traceId: undefined,
    attempt: o.attempt ?? 1,
    publishedAt: 0,
    fence: o.fence ?? 1,
    signal: o.signal ?? new AbortController().signal,
    extendLease: () => Promise.resolve(),
    assertLease: () => (o.lost ? Promise.reject(new LeaseLostError(1, o.fence ?? 1)) : Promise.resolve()),
    underLease: (write) => (o.lost ? Promise.reject(new LeaseLostError(1, o.fence ?? 1)) : write([])),
    ackWith: () => {
      throw new Error("egress records its sends itself");
    },
  };
}

export const reply = (text: string, replyKey = "k1", chatId = "c1", extra: Partial<OutboundReply> = {}): OutboundReply => ({
  agent: "x",
  chatId,
  text,
  inReplyTo: [1],
  replyKey,
  kind: "answer",
  ...extra,
});
