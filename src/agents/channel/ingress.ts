/**
 * The ingress commit every channel shares, ONE write transaction: the channel's own rows (contacts, skipped
 * inputs, delivery states — all idempotent upserts), every inbound message and every channel-local answer as one
 * bus publish with per-message idempotency keys, and the chat inbox rows with their bus ids (inbox.ts). The
 * webhooks arriving together share that transaction's statements, and the process's writer commits it with the
 * process's other writes of the moment (src/store/writer.ts: one fsync for all of them). Only then may the
 * webhook answer 2xx or the poller confirm an offset. A redelivery after a failure repeats it harmlessly (a
 * duplicate publish reports the original bus id).
 *
 * @module
 */
import { setImmediate } from "node:timers";
import {
  chatKey,
  INBOUND_TOPIC,
  type InboundMessage,
  type OutboundReply,
  outboundTopic,
} from "../../bus/envelopes.ts";
import type { Bus, Json, PublishInput } from "../../bus/types.ts";
import { M } from "../../metrics/names.ts";
import type { Metrics } from "../../metrics/registry.ts";
import { type InStatement, isStoreUnavailable } from "../../store/mod.ts";
import { newTraceId, type Tracer } from "../../trace/mod.ts";
import { inboxInsert } from "./inbox.ts";

export interface IngressBatch {
  /** Messages for the orchestrator, each with its idempotency key (`telegram:<agent>:<update_id>`, `whatsapp:<wamid>`, …). */
  inbound: { message: InboundMessage; idempotencyKey: string }[];
  /**
   * Answers the channel gives by itself (the /start greeting, WhatsApp's template or resend after a failed status),
   * not handed out before `notBefore` (a back-off).
   */
  outbound: { reply: OutboundReply; idempotencyKey: string; notBefore?: number }[];
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
  tracer: Tracer;
  metrics: Metrics;
  channel: InboundMessage["channel"];
  now: () => number;
}

/** Commits an ingress batch; throws when the store cannot commit it. */
export type Ingress = (batch: IngressBatch, startedAt: number) => Promise<IngressResult>;

interface Waiting {
  batch: IngressBatch;
  resolve(result: IngressResult): void;
  reject(err: unknown): void;
}

/**
 * The ingress of one channel agent. The batches of a moment (the webhooks whose handlers ran in one turn of the
 * event loop) commit as one write: their rows, one chat-inbox INSERT and one bus publish for all of them, as a
 * consumer round's acks do (src/bus/sqlite-queue.ts) — statements, not rows, are what a commit spends most on.
 * If that write fails while the store is available (a row breaking a constraint), each batch is tried again
 * alone, so only the one at fault fails. Each new inbound message starts a trace (`received`, `stored`) whose id
 * travels with it on the bus.
 *
 * One write at a time: the batches arriving meanwhile wait and go together in the next one. A write that a later
 * one overtook could put a chat's messages out of order when it is retried batch by batch; and waiting costs
 * little, since a durable write resolves after the WAL's flush, and one started during that flush would have
 * waited for the next one anyway.
 */
export function createIngress(to: IngressTarget): Ingress {
  let waiting: Waiting[] = [];
  let writing = false;
  const commitAlone = (w: Waiting) => commitBatches(to, [w.batch]).then(([r]) => w.resolve(r!), w.reject);
  const commitGroup = async (group: Waiting[]) => {
    if (group.length === 1) return commitAlone(group[0]!);
    try {
      const results = await commitBatches(to, group.map((w) => w.batch));
      group.forEach((w, i) => w.resolve(results[i]!));
    } catch (err) {
      if (isStoreUnavailable(err)) return group.forEach((w) => w.reject(err));
      for (const w of group) await commitAlone(w); // in order: a chat's messages keep theirs
    }
  };
  const flush = async () => {
    const group = waiting;
    waiting = [];
    writing = true;
    await commitGroup(group);
    writing = false;
    if (waiting.length > 0) setImmediate(flush);
  };
  return async (batch, startedAt) => {
    const result = await new Promise<IngressResult>((resolve, reject) => {
      waiting.push({ batch, resolve, reject });
      // setImmediate runs after this turn's I/O callbacks: the webhooks arriving together join one write.
      if (waiting.length === 1 && !writing) setImmediate(flush);
    });
    to.metrics.inc(M.messagesIn, { channel: to.channel }, result.fresh.size);
    if (result.duplicates > 0) to.metrics.inc(M.duplicatesSuppressed, { stage: "ingress" }, result.duplicates);
    to.metrics.observe(M.ackLatency, to.now() - startedAt, { channel: to.channel });
    return result;
  };
}

/**
 * Commits batches as one write: their rows, then one atomic bus publish of all their messages with the chat-inbox
 * rows. A message whose idempotency key an earlier batch of the write carries is that later batch's duplicate.
 */
async function commitBatches(to: IngressTarget, batches: readonly IngressBatch[]): Promise<IngressResult[]> {
  const { bus } = to;
  const results = batches.map((): IngressResult => ({ fresh: new Set(), duplicates: 0 }));
  const seen = new Set<string>();
  const messages: (PublishInput & { idempotencyKey: string })[] = [];
  type Inbound = { message: InboundMessage; traceId: string };
  /** Per message: the batch of an inbound one, the message and its trace id; undefined for a channel-local answer. */
  const origins: ({ batch: number } & Inbound | undefined)[] = [];
  const add = (batch: number, input: PublishInput & { idempotencyKey: string }, inbound?: Inbound) => {
    if (seen.has(input.idempotencyKey)) {
      if (inbound) results[batch]!.duplicates++; // the same wamid twice
      return;
    }
    seen.add(input.idempotencyKey);
    messages.push(input);
    origins.push(inbound && { batch, ...inbound });
  };
  batches.forEach((b, i) => {
    for (const { message, idempotencyKey } of b.inbound) {
      const key = chatKey(message.agent, message.chatId);
      const traceId = newTraceId();
      add(i, { topic: INBOUND_TOPIC, key, payload: toJson(message), idempotencyKey, traceId }, { message, traceId });
    }
    for (const { reply, idempotencyKey, notBefore } of b.outbound) {
      const key = chatKey(reply.agent, reply.chatId);
      const due = notBefore === undefined ? {} : { notBefore };
      add(i, { topic: outboundTopic(reply.agent), key, payload: toJson(reply), idempotencyKey, ...due });
    }
  });
  // Each inbound message's fresh trace id tells the inbox statement whether this publish stored it (inbox.ts).
  const inbox = messages.flatMap((m, i) => {
    const origin = origins[i];
    return origin ? [{ message: origin.message, idempotencyKey: m.idempotencyKey, traceId: origin.traceId }] : [];
  });
  // Durable: the platform never resends what we answered 2xx for (RELIABILITY.md C5).
  const published = await bus.publish(messages, {
    before: batches.flatMap((b) => b.rows),
    after: inbox.length > 0 ? [inboxInsert(inbox)] : [],
    durable: true,
  });
  published.forEach((r, i) => {
    const origin = origins[i];
    if (origin === undefined) return;
    const result = results[origin.batch]!;
    if (r.duplicate) return void result.duplicates++;
    const m = messages[i]!;
    const { channel, platformId, receivedAt } = origin.message;
    result.fresh.add(m.idempotencyKey);
    to.tracer.event(m.traceId, "received", { channel, platformId }, { chat: m.key, at: receivedAt });
    to.tracer.event(m.traceId, "stored", { busId: r.id });
  });
  return results;
}
