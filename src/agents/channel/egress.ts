/**
 * The egress loop every channel agent runs: consume `outbound.<agent>`, validate each reply, plan it with the
 * channel's transport, and send its parts in order, paced. Each attempt follows the send ledger's protocol
 * (src/bus/ledger.ts): `begin` records the intent (fenced) only under the bus lease, the external call follows at
 * once, and the outcome is recorded at once — so a redelivered reply never sends a part twice, and a consumer whose
 * lease is found lost (with the intent, or by the heartbeat after it) does not send. An intent
 * without outcome is settled by the platform's own records where it has them (`settle`: WhatsApp's status
 * webhooks), else skipped or sent again per `resendUnknown`; so is a send the transport left without an answer
 * that the platform may have taken (`unknown`: a reset or timeout), by the same handler at once. Platform back-off
 * is waited out inside the handler with the intent released (`recordFailed`: nothing was sent), so a crash while
 * waiting loses nothing; after `maxAttempts` the error goes back to the bus for a later retry, not before the
 * back-off ends (a stop gives the reply back with that time too), and not counted when the platform was down. A
 * reply whose chat's next slot is further off than a chat gap goes back to the bus before it starts
 * (`SlotLaterError`).
 *
 * Partial replies (the text so far of an answer being streamed) are shown by a channel that edits messages
 * (`progressive`, see progressive.ts) and ignored by the others; a final reply marked `streamed` edits the parts
 * partials posted, and sends the rest (once a part went out as a new message, the later ones go out anew too, so
 * they read below it). A part whose partial post has an unknown outcome is sent again: a message stuck at a partial
 * text would be worse than a duplicate.
 *
 * @module
 */
import { createEnvelopeParser, type OutboundReply, outboundReplySchema } from "../../bus/envelopes.ts";
import type { ResendUnknown, SendLedger } from "../../bus/ledger.ts";
import { type Delivery, RetryLaterError } from "../../bus/types.ts";
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/registry.ts";
import { M } from "../../metrics/names.ts";
import {
  type ChannelTransport,
  countSent,
  reportUnknownOutcome,
  retryLaterOf,
  type Settled,
  withSendTimeout,
} from "./outcome.ts";
import type { InStatement } from "../../store/mod.ts";
import type { Tracer } from "../../trace/mod.ts";
import { type Pacer, SlotLaterError } from "./pacer.ts";
import { type Sleep, sleep as realSleep, waitSignal } from "./sleep.ts";
import type { Progressive } from "./progressive.ts";
import { EGRESS_RETRY_MAX_MS } from "./spine.ts";

export type ChannelName = "telegram" | "whatsapp" | "webchat";

export interface EgressOptions<P> {
  channel: ChannelName;
  transport: ChannelTransport<P>;
  ledger: SendLedger;
  /**
   * What to do with a part whose earlier attempt recorded its intent but never its outcome (the process died
   * mid-send) and that `settle` did not decide: false = at most once (Telegram, WhatsApp: skip it), true = at
   * least once (web chat: send again).
   */
  resendUnknown: boolean;
  /**
   * Looks up what the platform says about part `key`, whose intent (at `since`) has no outcome yet: decides
   * "pending" and "unknown" intents before `resendUnknown` applies (WhatsApp: its status webhooks).
   */
  settle?(key: string, since: number): Promise<Settled>;
  /**
   * With `settle` (required then): how long a part this process sent without an answer is remembered after the
   * delivery that sent it ended, for this process's redelivery of it (see `ownUnknowns`), on top of the egress
   * consumer's longest retry delay (EGRESS_RETRY_MAX_MS). WhatsApp: its status wait.
   */
  unknownsKeptMs?: number;
  pacer: Pacer;
  /** Between looks while `settle` says "wait" (default: the real timer). */
  sleep?: Sleep;
  log: Logger;
  metrics: Metrics;
  now: () => number;
  /** Attempts per part before the error goes back to the bus (default 5). */
  maxAttempts?: number;
  /**
   * Aborted when the agent stops: pacing and back-off waits end at once (the reply goes back to the bus for the
   * next process). A send already on the wire is never aborted by it — its outcome would become unknown.
   */
  stopping?: AbortSignal;
  /** Records `sent`, `retry` and `error` stages under the reply's trace id (the delivery's). */
  tracer?: Tracer;
  /** Marks a contact inactive after the platform said it blocked us. */
  markInactive(chatId: string, reason: string): Promise<void>;
  /**
   * Called when a reply is finished (sent, skipped or failed), or a partial reply shows some of it: e.g. stop the
   * typing indicator.
   */
  onReplyDone?(reply: OutboundReply): void;
  /** Shows partial replies and edits streamed ones (channels that can edit a message); without it partials are ignored. */
  progressive?: Progressive<P>;
}

/** How often `settle` is asked again while it says "wait". */
export const SETTLE_POLL_MS = 5_000;

/** Thrown to hand a send back to the bus (its retry delay applies, and `retryAt`, `uncounted`: RetryLaterError). */
export class SendRetryLaterError extends RetryLaterError {
  constructor(readonly reason: string, opts: { retryAt?: number; uncounted?: boolean } = {}) {
    super(`send not done (${reason}); the bus retries later`, opts);
    this.name = "SendRetryLaterError";
  }
}

/** The ledger key of part `index` of a reply. */
export function partKey(replyKey: string, index: number): string {
  return `${replyKey}#${index}`;
}

/** Builds the bus handler of `outbound.<agent>`. */
export function createEgressHandler<P>(opts: EgressOptions<P>): (delivery: Delivery) => Promise<void> {
  const { transport, ledger, pacer, log, metrics, channel } = opts;
  const maxAttempts = opts.maxAttempts ?? 5;
  const sleep = opts.sleep ?? realSleep;
  const signalOf = (d: Delivery) => waitSignal(d, opts.stopping);
  if (opts.settle && opts.unknownsKeptMs === undefined) {
    throw new TypeError("createEgressHandler: unknownsKeptMs is required with settle");
  }
  const keptMs = (opts.unknownsKeptMs ?? 0) + EGRESS_RETRY_MAX_MS;
  const parseReply = createEnvelopeParser(outboundReplySchema, "outbound reply", opts);
  /**
   * Parts this process sent and got no answer for (with `settle`), until a claim decides them: a delivery cut short
   * while it waits for their status (the bus's handler deadline) leaves them to the redelivery, which may then settle
   * them as never taken (below) as that delivery would have. Each maps to the delivery handling it (the one that sent
   * it, then the one that claims it again), then to when that delivery ended; `keptMs` later it is dropped. This
   * process's redelivery comes within the bus's retry delay (at most EGRESS_RETRY_MAX_MS, longer than WhatsApp's
   * shortest status wait), later when it waits for a slot the other deliveries hold while they wait for their
   * statuses (about a status wait); a later one is settled as another process's would be. One
   * dead-lettered, given back at a stop or taken over by another process never asks here: without the bound, a
   * long-running agent on a flaky network would keep them all.
   */
  const ownUnknowns = new Map<string, Delivery | number>();
  /** Stamps the parts `ended` left undecided with the time, and drops those stamped `keptMs` ago. */
  const forgetUnknowns = (ended: Delivery) => {
    const now = opts.now();
    for (const [key, by] of ownUnknowns) {
      if (by === ended) ownUnknowns.set(key, now);
      else if (typeof by === "number" && now - by >= keptMs) ownUnknowns.delete(key);
    }
  };

  /**
   * Claims the part in the ledger: true to send now, false when it was already sent (or must not be resent). The
   * intent commits only under the lease, so nothing but the call follows the intent's commit; a lease found lost
   * after it (the signal) releases the intent.
   */
  async function claim(
    key: string,
    delivery: Delivery,
    resendUnknown: ResendUnknown,
    settledRecord?: (platformId: string) => InStatement[],
  ): Promise<boolean> {
    if (ownUnknowns.has(key)) ownUnknowns.set(key, delivery); // kept while this delivery waits for its status
    const begun = await delivery.underLease((guard) => ledger.begin(key, delivery.fence, { resendUnknown, guard }));
    if (begun.status === "send") return await stillHeld(key, delivery);
    if (begun.status === "sent") {
      metrics.inc(M.duplicatesSuppressed, { stage: "send" });
      return false;
    }
    if (!opts.settle) {
      if (begun.status === "pending") throw new SendRetryLaterError("another attempt is sending this part right now");
      reportUnknownOutcome(log, metrics, channel, key);
      return false;
    }
    const settled = await opts.settle(key, begun.since);
    if (typeof settled === "object") {
      await ledger.recordSent(key, settled.sent, settledRecord?.(settled.sent));
      log.info("send outcome settled by the platform: it was sent", { key });
      metrics.inc(M.duplicatesSuppressed, { stage: "send" });
      return false;
    }
    if (settled === "wait") {
      // Another attempt is at it, or it died and the part's status may still come (Meta retries a webhook the dead
      // agent missed). Waited for here, the heartbeat keeping the lease, not on the bus, where every look would use
      // up one of the delivery's attempts.
      await sleep(SETTLE_POLL_MS, signalOf(delivery));
      return await claim(key, delivery, resendUnknown, settledRecord);
    }
    // `ownUnknowns`: this process made the send whose answer never came and took webhooks all along, so no status
    // for it in the whole wait means Graph never took it, whatever else was sent meanwhile.
    if (settled === "not-sent" || (settled === "unknown" && ownUnknowns.has(key))) {
      const again = await delivery.underLease((guard) =>
        ledger.begin(key, delivery.fence, { resendUnknown: true, guard })
      );
      if (again.status !== "send") throw new SendRetryLaterError("another attempt took this part over");
      log.warn("send outcome settled by the platform: it never left; sending it", { key });
      return await stillHeld(key, delivery);
    }
    reportUnknownOutcome(log, metrics, channel, key);
    return false;
  }

  /** After the intent: true, unless the lease was found lost meanwhile (then the intent is released: nothing sent). */
  async function stillHeld(key: string, delivery: Delivery): Promise<true> {
    if (!delivery.signal.aborted) return true;
    await ledger.recordFailed(key, delivery.fence, "lease lost before the send");
    throw delivery.signal.reason;
  }

  /**
   * Sends one part; false when the reply must stop here: a permanent failure, or a replacement was sent (it
   * stands for the whole reply — WhatsApp's template after 131047 must not be sent once per part).
   */
  async function sendPart(
    reply: OutboundReply,
    key: string,
    part: P,
    delivery: Delivery,
    resendUnknown: ResendUnknown,
    mayHandBack: boolean,
  ): Promise<boolean> {
    // begin() decides; this read only spares a part sent already the pacing wait. A first attempt finds none,
    // except after a graceful stop gave the reply back (its attempt is not counted): begin() skips that part.
    if (delivery.attempt > 1 && (await ledger.wasSent(key)) !== undefined) {
      metrics.inc(M.duplicatesSuppressed, { stage: "send" });
      return true;
    }
    // No await between this look and the wait's reservation below: sends that start together see each other's.
    const dueAt = mayHandBack ? pacer.dueLater(reply.chatId) : 0;
    if (dueAt > 0) throw new SlotLaterError(dueAt);
    let current = part;
    // A replacement has its own ledger key: a kill while it is sent leaves its outcome to be settled as its own (the
    // next attempt plans the refused part again, and must not take the replacement's status for that part's).
    let sendKey = key;
    let replaced = false;
    let unknown = false;
    for (let attempt = 1;; attempt++) {
      await pacer.wait(reply.chatId, signalOf(delivery));
      const settledRecord = (platformId: string) => transport.settledRecord?.(current, reply.chatId, platformId) ?? [];
      const claimed = await claim(sendKey, delivery, resendUnknown, settledRecord);
      ownUnknowns.delete(sendKey); // decided: sent, skipped, or sent again now
      if (!claimed) return !replaced;
      if (unknown && attempt > maxAttempts) {
        // Settled as never taken, with this delivery's attempts used up: released (nothing was sent) for the bus's
        // next delivery, which sends it; kept as an intent, that delivery would take it for a dead agent's.
        await ledger.recordFailed(sendKey, delivery.fence, "no answer from the platform; not taken");
        throw new SendRetryLaterError(`no answer from the platform, ${maxAttempts} attempts`);
      }
      unknown = false;
      const started = opts.now();
      const outcome = await withSendTimeout((signal) =>
        transport.send(current, { chatId: reply.chatId, key: sendKey, attempt, signal })
      );
      const durationMs = opts.now() - started;
      if (outcome.kind === "sent") {
        // At once, not with the delivery's ack (Delivery.ackWith): a crash between the send and this record leaves
        // an unknown outcome, so the shorter that window the better; riding on the ack widened it enough for the
        // soak to see a duplicate (one in 10,000 messages, 2026-11-28).
        await ledger.recordSent(sendKey, outcome.platformId ?? "", outcome.record);
        countSent(metrics, channel, reply, opts.now());
        opts.tracer?.event(delivery.traceId, "sent", { key: sendKey, platformMessageId: outcome.platformId ?? null }, {
          durationMs,
          at: started,
        });
        return !replaced;
      }
      // An unknown outcome keeps its intent: the next claim settles it (`settle`), never a blind resend.
      if (outcome.kind !== "unknown") await ledger.recordFailed(sendKey, delivery.fence, outcome.reason);
      metrics.inc(M.sendErrors, { platform: channel, code: outcome.code ?? "unknown" });
      const stage = outcome.kind === "failed" ? "error" : "retry";
      opts.tracer?.event(delivery.traceId, stage, { key: sendKey, attempt, code: outcome.code ?? null }, {
        durationMs,
        at: started,
      });
      // Not counted against the attempts until settled: the next claim waits for its status first.
      if (outcome.kind === "unknown") {
        log.warn("send outcome unknown; the platform's records decide", {
          chat: reply.chatId,
          reason: outcome.reason,
        });
        unknown = true;
        if (opts.settle) ownUnknowns.set(sendKey, delivery);
        continue;
      }
      if (outcome.kind === "retry") {
        // Before handing it back too: the bus's redelivery comes in a second, the platform's wait may be longer.
        pacer.defer(reply.chatId, outcome.scope, opts.now() + outcome.afterMs, outcome.code);
        if (attempt >= maxAttempts) {
          const later = retryLaterOf(outcome, pacer.heldUntil(reply.chatId), delivery.publishedAt, opts.now());
          throw new SendRetryLaterError(`${outcome.reason}, ${attempt} attempts`, later);
        }
        log.warn("send deferred", {
          chat: reply.chatId,
          reason: outcome.reason,
          afterMs: outcome.afterMs,
          attempt,
        });
        continue;
      }
      if (outcome.instead !== undefined && !replaced) {
        log.info("sending a replacement", { chat: reply.chatId, reason: outcome.reason });
        current = outcome.instead;
        sendKey = `${key}:instead`;
        replaced = true;
        attempt = 0;
        continue;
      }
      log.warn("send failed permanently", {
        chat: reply.chatId,
        reason: outcome.reason,
        replyKey: reply.replyKey,
      });
      if (outcome.inactive) await opts.markInactive(reply.chatId, outcome.reason);
      return false;
    }
  }

  return async (delivery) => {
    forgetUnknowns(delivery); // drops the expired ones before a claim could take one for its own
    const reply = parseReply(delivery);
    const progressive = opts.progressive;
    if (reply.partial !== undefined) {
      // Stale by the time a retry would come: shown now or never (the final reply carries the whole text); so is one
      // whose chat's next slot is further off than a chat gap (progressive.ts). Only one that shows something ends
      // the typing indicator: while nothing of the reply is on screen, "typing…" is all the user sees.
      if (!progressive) return;
      if (await progressive.partial(reply, delivery)) opts.onReplyDone?.(reply);
      return;
    }
    const streamed = reply.streamed === true && progressive !== undefined;
    let handedBack = false;
    try {
      const plan = await transport.plan(reply);
      if ("skipped" in plan) {
        const key = partKey(reply.replyKey, 0);
        if (await claim(key, delivery, opts.resendUnknown)) await ledger.recordFailed(key, delivery.fence, plan.skipped);
        log.info("reply not sent", { chat: reply.chatId, reason: plan.skipped, replyKey: reply.replyKey });
        return;
      }
      let settled = true;
      // A part went out as a new message (below the chat's last one): the later parts must follow it, not stay above.
      let below = false;
      // Nothing of the reply done here yet: it may still go back to the bus whole (`SlotLaterError`).
      let untouched = true;
      for (const [i, part] of plan.parts.entries()) {
        const key = partKey(reply.replyKey, i);
        if (streamed) {
          const done = await progressive.finalPart(reply, key, part, delivery, below, untouched);
          if (done === "anew") below = true;
          if (done) {
            untouched = false;
            continue;
          }
          below = true; // never posted by partials: sent below now
        }
        // A streamed part whose outcome is unknown is sent again when a partial's post left it so: the user may
        // see only the text so far. After a final's own unknown send it is skipped like any other reply's.
        const resend = opts.resendUnknown || (streamed ? "partial" : false);
        const sent = await sendPart(reply, key, part, delivery, resend, untouched);
        untouched = false;
        if (!sent) {
          settled = false;
          break;
        }
      }
      if (streamed) {
        if (settled) await progressive.removeRest(reply, plan.parts.length, delivery);
        progressive.finished(reply);
      }
    } catch (err) {
      // Not done, only later: the typing indicator goes on (no `onReplyDone`).
      handedBack = err instanceof SlotLaterError;
      // Stopped while the platform's back-off holds the chat (retry_after, 131056; 130429 for every chat): the bus
      // keeps the reply until it ends, or the next process, whose pacer knows nothing of it, would send into it.
      const retryAt = pacer.heldUntil(reply.chatId);
      if (opts.stopping?.aborted !== true || retryAt <= opts.now()) throw err;
      throw new SendRetryLaterError("the agent stopped during the platform's back-off", { retryAt });
    } finally {
      forgetUnknowns(delivery);
      if (!handedBack) opts.onReplyDone?.(reply);
    }
  };
}
