/**
 * What a channel's transport tells the shared egress loop after one send attempt. Each channel maps its
 * platform's errors to these three outcomes (Telegram: 429 retry_after, 403 blocked; WhatsApp: the retry classes
 * of RELIABILITY.md), so pacing, retries and the send ledger are written once.
 *
 * @module
 */
import { deadline } from "../../deadline.ts";
import type { OutboundReply } from "../../bus/envelopes.ts";
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/registry.ts";
import type { InStatement } from "../../store/mod.ts";
import { M } from "../../metrics/names.ts";
import { EGRESS_RETRY_MAX_MS } from "./spine.ts";

export type SendOutcome<P> =
  /**
   * The platform accepted the message. `record`: the channel's own rows about the send (WhatsApp: its wamid for the
   * status webhooks), committed in one batch with the ledger's `sent` record.
   */
  | { kind: "sent"; platformId?: string; record?: InStatement[] }
  /**
   * Try again after `afterMs`: the chat (`scope: "chat"`) or every chat (`"all"`) waits that long. `unavailable`:
   * the platform is down or out of reach (5xx, a network error), nothing is wrong with the message (`retryLaterOf`).
   */
  | { kind: "retry"; afterMs: number; scope: "chat" | "all"; reason: string; code?: string; unavailable?: boolean }
  /**
   * Never retried. `inactive` marks the contact so nothing more is sent to it; `instead` is sent once in place
   * of the failed part (WhatsApp: the approved template after 131047). `code` is the platform's error code
   * (metrics label).
   */
  | { kind: "failed"; reason: string; code?: string; inactive?: boolean; instead?: P }
  /**
   * No answer, and the platform may have the message (a reset or timeout after the request left): the intent
   * stays, and `EgressOptions.settle` decides as after a crash mid-send. Only for a channel with `settle`.
   */
  | { kind: "unknown"; reason: string; code?: string };

export type SendPlan<P> = { parts: P[] } | { skipped: string };

/**
 * What a platform's own records say about a send whose intent has no outcome (`EgressOptions.settle`): it was
 * sent (as this platform id), it never left (send it), not yet known (wait: asked again shortly), or never knowable
 * (at most once: skip it).
 */
export type Settled = { sent: string } | "not-sent" | "wait" | "unknown";

/** One channel's platform side: how a reply becomes parts, and how one part is sent. */
export interface ChannelTransport<P> {
  /** Turns a reply into the messages to send (split, text or template), or says why nothing can be sent. */
  plan(reply: OutboundReply): Promise<SendPlan<P>>;
  /** One attempt at sending one part. */
  send(part: P, ctx: SendContext): Promise<SendOutcome<P>>;
  /**
   * What to record with a part that the platform's own records settled as sent as `platformId`
   * (`EgressOptions.settle`): what `send` records with its outcome (WhatsApp: that the chat had its template).
   */
  settledRecord?(part: P, chatId: string, platformId: string): InStatement[];
}

export interface SendContext {
  chatId: string;
  /** The part's send-ledger key (`<replyKey>#<part>`). */
  key: string;
  /** Counts from 1 for this part. */
  attempt: number;
  /**
   * Aborted only at the call's timeout (`SEND_TIMEOUT_MS`), which the transport reports as a network failure
   * (`retry`, or `unknown` where the platform can settle it). Never because the bus lease was lost or the agent
   * stops: a request already on the wire is finished and its outcome recorded, where aborting it would leave the
   * outcome unknown and the part not sent again.
   */
  signal: AbortSignal;
}

/** How long one call to a platform (send or edit) may take before it counts as a network failure. */
export const SEND_TIMEOUT_MS = 30_000;

/**
 * Runs one platform call with its `SendContext.signal`: aborted at `SEND_TIMEOUT_MS`, its timer cleared as soon as
 * the call ends (AbortSignal.timeout would keep a timer per send alive for the whole timeout).
 */
export async function withSendTimeout<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const timeout = deadline(SEND_TIMEOUT_MS);
  try {
    return await call(timeout.signal);
  } finally {
    timeout.clear();
  }
}

/** A message out (a part sent, or a streamed part's final edit), and how long after its question it went (answers). */
export function countSent(metrics: Metrics, channel: string, reply: OutboundReply, now: number): void {
  metrics.inc(M.messagesOut, { channel });
  if (reply.receivedAt !== undefined && reply.kind !== "fallback" && reply.kind !== "progress") {
    metrics.observe(M.replyLatency, now - reply.receivedAt, { channel });
  }
}

/**
 * A part whose earlier attempt recorded its intent but never its outcome (the process died mid-send, or the answer
 * never came) and is not sent again: the user may not have it, so it is an error (`aideazz stats`, the dashboard's
 * send errors).
 */
export function reportUnknownOutcome(log: Logger, metrics: Metrics, platform: string, key: string): void {
  log.error("send outcome unknown (the agent died mid-send, or the answer never came); not sent again", { key });
  metrics.inc(M.sendErrors, { platform, code: "outcome-unknown" });
}

/**
 * How long every send waits after the platform refused the bot's token (Telegram 401, Graph 190): 30 s, doubling
 * to 5 min. A token fixed meanwhile (the agent restarted with the new one) sends the waiting replies.
 */
export function authBackoffMs(attempt: number): number {
  return backoffMs(attempt, 30_000, 2, 5 * 60_000);
}

/** Back-off for attempt `attempt` (1-based): `baseMs * factor^(attempt-1)`, capped. */
export function backoffMs(attempt: number, baseMs: number, factor: number, capMs: number): number {
  return Math.min(capMs, baseMs * factor ** Math.max(0, attempt - 1));
}

/**
 * When a part handed back to the bus after a `retry` outcome may come back (`RetryLaterError`): not before the
 * platform's back-off for its chat ends (`heldUntil`), which the pacer of the process taking it over knows nothing
 * of. An outage (`unavailable`) does not count towards the bus's attempts, so it dead-letters nothing however long it
 * lasts; instead each redelivery waits as long again as the reply has waited since it was published (at most
 * EGRESS_RETRY_MAX_MS), so the tries thin out as the outage goes on.
 */
export function retryLaterOf(
  outcome: { unavailable?: boolean },
  heldUntil: number,
  publishedAt: number,
  now: number,
): { retryAt: number; uncounted: boolean } {
  if (outcome.unavailable !== true) return { retryAt: heldUntil, uncounted: false };
  const waited = Math.min(EGRESS_RETRY_MAX_MS, Math.max(0, now - publishedAt));
  return { retryAt: Math.max(heldUntil, now + waited), uncounted: true };
}
