/**
 * What every channel agent wires the same way: its bus (the production SQLite bus on the agent's store), the
 * subscriptions its messages need, the send ledger, and the egress consumer of `outbound.<agent>`.
 *
 * Subscriptions: a bus group receives messages published after it subscribed. The channel subscribes its own
 * egress group, and the orchestrator's group on `inbound` too, so messages a channel stores before the
 * orchestrator ever ran are not left without a receiver.
 *
 * @module
 */
import { INBOUND_TOPIC, outboundTopic } from "../../bus/envelopes.ts";
import {
  type Bus,
  type Consumer,
  createSendLedger,
  createSqliteBus,
  type Delivery,
  type SendLedger,
} from "../../bus/mod.ts";
import type { AgentDeps } from "../define.ts";
import { markInactive } from "./contacts.ts";

/** The consumer group that sends a channel agent's replies. */
export const EGRESS_GROUP = "egress";
/** The orchestrator's consumer group on `inbound`. */
export const ORCHESTRATOR_GROUP = "orchestrator";

/**
 * The egress consumer's longest retry delay: before its 8th and last attempt, 2^6 times the bus's 1 s base (a cap
 * the default schedule reaches just then, kept as one: egress.ts remembers a send for this process's redelivery).
 */
export const EGRESS_RETRY_MAX_MS = 64_000;

/** How long a stopping agent waits for sends in flight before their leases are released. */
const STOP_TIMEOUT_MS = 10_000;

export interface ChannelSpine {
  bus: Bus;
  ledger: SendLedger;
  /** Aborted when the agent starts stopping: ends pacing and back-off waits (see egress.ts). */
  stopping: AbortSignal;
  /** Marks a contact inactive: the platform said the user blocked us (`EgressOptions.markInactive`). */
  markInactive(chatId: string, reason: string): Promise<void>;
  startEgress(handler: (delivery: Delivery) => Promise<void>): void;
  /** Stops the egress consumer (sends in flight finish or are released) and the bus. */
  stop(): Promise<void>;
}

export interface SpineOptions {
  /** Bus to use instead of the store's SQLite bus (tests). */
  bus?: Bus;
  /** Parallel sends (different chats); one chat's replies are always sent in order. */
  concurrency?: number;
}

export async function createChannelSpine(
  deps: AgentDeps,
  agent: string,
  opts: SpineOptions = {},
): Promise<ChannelSpine> {
  // Every error text egress stores (the ledger's, the contact's, the bus's when a reply goes back to it) is
  // redacted: a platform's error may echo a secret (a proxy or a self-hosted Bot API naming /bot<token>/…).
  const { redact } = deps;
  const bus = opts.bus ??
    createSqliteBus(deps.store, { log: deps.log, metrics: deps.metrics, now: deps.now, redact });
  await bus.subscribe(outboundTopic(agent), EGRESS_GROUP);
  await bus.subscribe(INBOUND_TOPIC, ORCHESTRATOR_GROUP);
  const ledger = createSendLedger(deps.store, { now: deps.now, redact });
  let consumer: Consumer | undefined;
  const stopping = new AbortController();
  return {
    bus,
    ledger,
    stopping: stopping.signal,
    async markInactive(chatId, reason) {
      await deps.store.client.execute(markInactive(agent, chatId, redact(reason), deps.now()));
    },
    startEgress(handler) {
      consumer ??= bus.consume({
        topic: outboundTopic(agent),
        group: EGRESS_GROUP,
        handler,
        concurrency: opts.concurrency ?? 32,
        // Platform back-off is waited out inside the handler; the heartbeat keeps the lease meanwhile.
        leaseMs: 30_000,
        handlerTimeoutMs: deps.config.bus.handlerTimeoutMs,
        maxAttempts: 8,
        retryMaxMs: EGRESS_RETRY_MAX_MS,
        onDeadLetter: ({ id, traceId, error }) => deps.tracer.event(traceId, "dead_letter", { group: EGRESS_GROUP, id, error }),
      });
    },
    async stop() {
      stopping.abort(new Error("agent stopping"));
      await consumer?.stop(STOP_TIMEOUT_MS);
      await bus.close();
    },
  };
}
