/**
 * The messages agents exchange over the bus: what a channel agent publishes when a chat user writes
 * (`inbound`), and what the orchestrator publishes for a channel agent to send (`outbound.<agent>`).
 * Validated with zod at both ends: a consumer never trusts a payload's shape.
 *
 * @module
 */
import { z } from "zod";
import type { Logger } from "../log.ts";
import { type Delivery, PermanentError, RetryLaterError } from "./types.ts";

export const INBOUND_TOPIC = "inbound";

/** The topic a channel agent consumes its replies from. */
export function outboundTopic(agent: string): string {
  return `outbound.${agent}`;
}

/**
 * The idempotency key of reply `replyKey` on `outbound.<agent>`: its bus message (payload and text) is kept under it
 * for the dedup window, where WhatsApp finds the text of a part Meta failed after accepting it.
 */
export function replyIdempotencyKey(replyKey: string): string {
  return `reply:${replyKey}`;
}

/** Ordering key of a chat: one chat's messages are handled strictly in order, chats in parallel. */
export function chatKey(agent: string, chatId: string): string {
  return `${agent}:${chatId}`;
}

export const inboundMessageSchema = z.object({
  channel: z.enum(["telegram", "whatsapp", "webchat"]),
  /** Name of the channel agent that received it (and will send the reply). */
  agent: z.string(),
  chatId: z.string(),
  userId: z.string(),
  /** The platform's id of the message (Telegram update_id/message_id, WhatsApp wamid, web chat uuid). */
  platformId: z.string(),
  /** `text` is answered by the router; `command` (/start, /reset, …) by the agent's role logic. */
  kind: z.enum(["text", "command", "unsupported"]),
  text: z.string(),
  /** When the user sent it (platform timestamp, epoch ms). */
  sentAt: z.number(),
  /** When we stored it. */
  receivedAt: z.number(),
  userName: z.string().optional(),
  /**
   * A caption's media ("photo", "video", "document", …): `text` is the caption, and nobody sees the media. Optional,
   * and the schema drops keys it does not know: an agent of an earlier release reads the caption alone.
   */
  attachment: z.string().optional(),
  /**
   * Web chat: the client's address as a hash (`clientHash`; an IPv6 client by its /64), never the address itself.
   * Every session of one client counts against its daily tokens (`webchat.perAddressDailyTokens`).
   */
  clientAddress: z.string().optional(),
});
export type InboundMessage = z.infer<typeof inboundMessageSchema>;

export const outboundReplySchema = z.object({
  agent: z.string(),
  chatId: z.string(),
  text: z.string(),
  /** Bus ids of the inbound messages this reply answers (one, or several for a coalesced burst). */
  inReplyTo: z.array(z.number()),
  /**
   * Send-ledger key: a reply with a key that was already sent is never sent again. Bounded: WhatsApp sends
   * carry it (with the part number) as `biz_opaque_callback_data`, at most 512 characters.
   */
  replyKey: z.string().min(1).max(200),
  /**
   * `notice`: the whole answer (no answer follows: limits, handoff, nothing configured); `progress`: "working on
   * it", the answer follows; `fallback`: every provider failed, the turn is retried.
   */
  kind: z.enum(["answer", "notice", "progress", "fallback", "greeting"]).default("answer"),
  /** When the (earliest) inbound message this reply answers was stored: end-to-end reply latency. */
  receivedAt: z.number().optional(),
  /**
   * A partial reply: the text so far of an answer the model is still writing (1, 2, … in order), same `replyKey`
   * as the final reply. A channel that edits messages (Telegram) shows it; the others ignore it.
   */
  partial: z.number().int().positive().optional(),
  /** The final reply of an answer that partials may have shown: the channel edits its message(s) to this text. */
  streamed: z.boolean().optional(),
  /**
   * WhatsApp: send the agent's approved template instead (`text` is empty). Ingress publishes one when Meta accepted
   * a reply and then failed it with 131047 in its status (at `refusedAt`, epoch ms): the window had closed at Meta.
   */
  template: z.strictObject({ refusedAt: z.number() }).optional(),
  /**
   * WhatsApp: send part `part` (its send-ledger key, `<replyKey>#<n>`) of an earlier reply again (`text` is empty).
   * Ingress publishes one when Meta accepted that part and then failed it with a temporary error in the status of
   * the send whose ledger key is `failed` (the part's, or an earlier resend's).
   */
  resend: z.strictObject({ part: z.string(), failed: z.string() }).optional(),
});
export type OutboundReply = z.infer<typeof outboundReplySchema>;

/** How long a payload from a newer release stays on the bus before this agent reads it again. */
export const NEWER_RELEASE_RETRY_MS = 30_000;

/**
 * Builds the parser of one bus envelope (`what`: "outbound reply"). A payload whose only problems are enum values this
 * release does not know (a reply kind, a channel) comes from a newer aideazz: `aideazz systemd restart` upgrades one
 * agent at a time and may stop half way, and this agent's next binary reads it. So it stays on the bus, retried
 * every 30 s without using up attempts, with one warning per message. Anything else wrong never becomes valid:
 * dead-lettered at once (retrying would only hold up the chat's next messages), with what is wrong (`bus dlq list`).
 */
export function createEnvelopeParser<T>(
  schema: z.ZodType<T>,
  what: string,
  deps: { log: Logger; now: () => number },
): (delivery: Delivery) => T {
  const warned = new Set<number>(); // message ids; the oldest forgotten past 1000
  return (delivery) => {
    const parsed = schema.safeParse(delivery.payload);
    if (parsed.success) return parsed.data;
    const issues = parsed.error.issues;
    const first = issues[0]!;
    const problem = `${first.path.join(".") || "(root)"}: ${first.message} ` +
      `(${issues.length} problem${issues.length === 1 ? "" : "s"})`;
    // A mistyped value (kind: 5) fails the same check as an unknown one: only a string is a newer release's value.
    const newer = issues.every((i) =>
      i.code === "invalid_value" && typeof valueAt(delivery.payload, i.path) === "string"
    );
    if (!newer) throw new PermanentError(`${what} is malformed: ${problem}`);
    if (!warned.has(delivery.id)) {
      warned.add(delivery.id);
      if (warned.size > 1000) warned.delete(warned.values().next().value!);
      const values = issues.map((i) => `${i.path.join(".")}=${String(valueAt(delivery.payload, i.path))}`);
      deps.log.warn(`${what} from a newer aideazz: upgrade this agent`, { id: delivery.id, values });
    }
    throw new RetryLaterError(`${what} from a newer aideazz (${problem}): upgrade this agent`, {
      retryAt: deps.now() + NEWER_RELEASE_RETRY_MS,
      uncounted: true,
    });
  };
}

function valueAt(payload: unknown, path: readonly PropertyKey[]): unknown {
  let v = payload;
  for (const k of path) v = typeof v === "object" && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}
