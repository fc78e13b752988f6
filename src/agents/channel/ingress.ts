/**
 * The ingress commit every channel shares, ONE write transaction: the channel's own rows (contacts, skipped
 * inputs, delivery states, the chat inbox rows of the inbound messages — all idempotent upserts), every inbound
 * message and every channel-local answer as one bus publish with per-message idempotency keys, and the bus ids
 * into the chat inbox (inbox.ts). The process's writer commits the webhooks arriving together in one transaction
 * (src/store/writer.ts: one fsync for all of them). Only then may the webhook answer 2xx or the poller confirm an
 * offset. A redelivery after a failure repeats it harmlessly (a duplicate publish reports the original bus id).
 *
 * @module
 */
import type { Context } from "hono";
import {
  chatKey,
  INBOUND_TOPIC,
  type InboundMessage,
  type OutboundReply,
  outboundTopic,
} from "../../bus/envelopes.ts";
import type { Bus, Json, PublishInput } from "../../bus/types.ts";
import type { Logger } from "../../log.ts";
import { M } from "../../metrics/names.ts";
import type { Metrics } from "../../metrics/registry.ts";
import { type InStatement, isStoreUnavailable, storeErrorCode } from "../../store/mod.ts";
import { newTraceId, type Tracer } from "../../trace/mod.ts";
import { RETRY_AFTER_S } from "../runtime.ts";
import { inboxBusId, inboxInsert } from "./inbox.ts";

export interface IngressBatch {
  /** Messages for the orchestrator, each with its idempotency key (`telegram:<agent>:<update_id>`, `whatsapp:<wamid>`, …). */
  inbound: { message: InboundMessage; idempotencyKey: string }[];
  /** Answers the channel gives by itself (the /start greeting, the polite non-text answer). */
  outbound: { reply: OutboundReply; idempotencyKey: string }[];
  /** The channel's own rows: contacts, skipped inputs, delivery states. */
  rows: InStatement[];
}

/**
 * Envelopes as bus payloads. Zod's output objects are plain JSON: optional fields are absent, never
 * `undefined` (exactOptionalPropertyTypes), so the cast only drops the index-signature check.
 */
function toJson(envelope: InboundMessage | OutboundReply): Json {
  return envelope as unknown as Json;
}

export function emptyBatch(): IngressBatch {
  return { inbound: [], outbound: [], rows: [] };
}

export interface IngressResult {
  /** Idempotency keys of the inbound messages stored now (not duplicates of earlier deliveries). */
  fresh: Set<string>;
  duplicates: number;
}

export interface IngressTarget {
  bus: Bus;
  agent: string;
  tracer: Tracer;
  metrics: Metrics;
  channel: InboundMessage["channel"];
  now: () => number;
}

/**
 * Commits a batch: the channel's rows, then one atomic bus publish. Throws when the store cannot commit. Each new
 * inbound message starts a trace (`received`, `stored`) whose id travels with it on the bus.
 */
export async function commitIngress(to: IngressTarget, batch: IngressBatch, startedAt: number): Promise<IngressResult> {
  const result = await commitBatch(to, batch);
  to.metrics.inc(M.messagesIn, { channel: to.channel }, result.fresh.size);
  if (result.duplicates > 0) to.metrics.inc(M.duplicatesSuppressed, { stage: "ingress" }, result.duplicates);
  to.metrics.observe(M.ackLatency, to.now() - startedAt, { channel: to.channel });
  return result;
}

async function commitBatch(to: IngressTarget, batch: IngressBatch): Promise<IngressResult> {
  const { bus, agent } = to;
  const seen = new Set<string>();
  const messages: (PublishInput & { idempotencyKey: string })[] = [];
  let duplicates = 0;
  const add = (input: PublishInput & { idempotencyKey: string }) => {
    if (seen.has(input.idempotencyKey)) return void duplicates++; // the same wamid twice in one webhook
    seen.add(input.idempotencyKey);
    messages.push(input);
  };
  const inbound = new Map<string, InboundMessage>();
  for (const { message, idempotencyKey } of batch.inbound) {
    if (!inbound.has(idempotencyKey)) inbound.set(idempotencyKey, message);
    add({
      topic: INBOUND_TOPIC,
      key: chatKey(agent, message.chatId),
      payload: toJson(message),
      idempotencyKey,
      traceId: newTraceId(),
    });
  }
  const inboundCount = messages.length;
  for (const { reply, idempotencyKey } of batch.outbound) {
    add({
      topic: outboundTopic(agent),
      key: chatKey(agent, reply.chatId),
      payload: toJson(reply),
      idempotencyKey,
    });
  }
  const fresh = new Set<string>();
  // Inbox rows before the messages: the orchestrator, once it claims one, finds its row and every earlier one.
  // Durable: the platform never resends what we answered 2xx for (RELIABILITY.md C5).
  const results = await bus.publish(messages, {
    before: [...batch.rows, ...batch.inbound.map((i) => inboxInsert(i.message))],
    after: [...inbound].map(([key, m]) => inboxBusId(agent, m.platformId, key)),
    durable: true,
  });
  results.forEach((r, i) => {
    const m = messages[i]!;
    if (i >= inboundCount) return;
    if (r.duplicate) return void duplicates++;
    fresh.add(m.idempotencyKey);
    const message = inbound.get(m.idempotencyKey)!;
    to.tracer.event(m.traceId, "received", { channel: message.channel, platformId: message.platformId }, {
      chat: m.key,
      at: message.receivedAt,
    });
    to.tracer.event(m.traceId, "stored", { busId: r.id });
  });
  return { fresh, duplicates };
}

/**
 * The answer to a webhook whose commit failed: 503 with Retry-After when the store is unavailable (locked,
 * read-only, full), so the platform redelivers later; 500 for anything else. Never 2xx without a committed row.
 */
export function ingressFailure(c: Context, err: unknown, log: Logger): Response {
  if (isStoreUnavailable(err)) {
    log.warn("webhook not stored: store unavailable", { code: storeErrorCode(err) });
    c.header("Retry-After", String(RETRY_AFTER_S));
    return c.json({ error: "store unavailable, retry later" }, 503);
  }
  log.error("webhook not stored", { err });
  return c.json({ error: "internal error" }, 500);
}
