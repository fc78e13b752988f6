/**
 * Progressive replies, the channel's half (Telegram): partial replies post the answer's first part as a message
 * and then edit it as the text grows; the final reply edits every part to its exact text. The send ledger is the
 * memory across processes — it holds the platform message id of each part (`<replyKey>#<n>`), so a turn that is
 * redelivered after a crash edits the message it already posted instead of posting a second one. Edits of one
 * message are at least `editIntervalMs` apart and go through the chat's and the bot's pacing; a partial that
 * comes too soon is dropped (a newer one or the final follows), the final waits for its slot. Text longer than
 * the platform's limit continues in follow-up messages (the transport's plan splits it at paragraphs); messages the
 * partials posted past the final reply's last part (a final shorter than its partials, or one the reply review
 * replaced) are deleted, so no text the answer no longer has stays on screen. A part whose message cannot be edited
 * goes out as a new message, below the others: every later part then goes out anew too (its old message deleted),
 * so the answer still reads in order.
 *
 * Partials never make the bus retry: they are stale by then. A failure is logged and the final reply fixes it.
 *
 * @module
 */
import type { OutboundReply } from "../../bus/envelopes.ts";
import type { SendLedger } from "../../bus/ledger.ts";
import { type Delivery, RetryLaterError } from "../../bus/types.ts";
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/registry.ts";
import { M } from "../../metrics/names.ts";
import {
  type ChannelTransport,
  countSent,
  reportUnknownOutcome,
  retryLaterOf,
  type SendContext,
  type SendOutcome,
  withSendTimeout,
} from "./outcome.ts";
import { type Pacer, SlotLaterError } from "./pacer.ts";
import { type Sleep, waitSignal } from "./sleep.ts";

/** Message edits by kind (partial, final) and outcome (edited, posted, skipped, failed). */
export const EDITS_METRIC = "aideazz_message_edits_total";

/** Remembered replies: enough for every chat streaming at once, small enough to never matter. */
const MEMORY = 2_000;

export interface EditingTransport<P> extends ChannelTransport<P> {
  /** Replaces the text of an already sent message (`platformId`) with `part`; an unchanged text counts as sent. */
  edit(part: P, platformId: string, ctx: SendContext): Promise<SendOutcome<P>>;
  /** The text a part shows (to compare with what the message shows now). */
  textOf(part: P): string;
  /** Deletes an already sent message (`platformId`); one already gone counts as deleted (`sent`). */
  remove(platformId: string, ctx: SendContext): Promise<SendOutcome<P>>;
}

export interface ProgressiveOptions<P> {
  /** The `platform` label of the send errors it counts. */
  platform: string;
  transport: EditingTransport<P>;
  ledger: SendLedger;
  pacer: Pacer;
  editIntervalMs: number;
  log: Logger;
  metrics: Metrics;
  now: () => number;
  sleep: Sleep;
  maxAttempts: number;
  stopping?: AbortSignal;
  /** The platform said the user blocked the bot (`EgressOptions.markInactive`). */
  markInactive(chatId: string, reason: string): Promise<void>;
}

export interface Progressive<P> {
  /**
   * Shows a partial reply (posts or edits); never throws. True when some of the reply is on screen (posted now or
   * before): a partial skipped for its slot shows nothing, and the chat's "typing…" must go on.
   */
  partial(reply: OutboundReply, delivery: Delivery): Promise<boolean>;
  /**
   * Brings part `key` of a final reply to its exact text when the part was posted before (by partials): settled
   * "in place" (edited, or not to be sent again) or "anew" (sent as a new message, below the chat's last one, or it
   * may have been); false when it was never posted (the caller sends it normally). `below`: an earlier part went
   * out as a new message, so this one goes out anew too, or it would read above it. Throws `EditRetryLaterError`
   * for the bus to retry; `SlotLaterError` when `mayHandBack` (nothing of the reply done yet) and its chat's next
   * slot is further off than a chat gap.
   */
  finalPart(
    reply: OutboundReply,
    key: string,
    part: P,
    delivery: Delivery,
    below: boolean,
    mayHandBack: boolean,
  ): Promise<FinalPart>;
  /**
   * Deletes the messages partials posted as parts `from` and later, which the final reply (`from` parts, all
   * settled) does not have. One attempt each: a failure is logged, the final reply is out.
   */
  removeRest(reply: OutboundReply, from: number, delivery: Delivery): Promise<void>;
  /** The final reply is done: later partials of it are stale. */
  finished(reply: OutboundReply): void;
}

/** How `finalPart` settled a part of a final reply (false: never posted by partials). */
export type FinalPart = "in place" | "anew" | false;

/** Thrown to hand a final edit back to the bus (as egress's SendRetryLaterError). */
export class EditRetryLaterError extends RetryLaterError {
  constructor(readonly reason: string, opts: { retryAt?: number; uncounted?: boolean } = {}) {
    super(`edit not done (${reason}); the bus retries later`, opts);
    this.name = "EditRetryLaterError";
  }
}

export function createProgressive<P>(opts: ProgressiveOptions<P>): Progressive<P> {
  const { transport, ledger, pacer, log, metrics, now } = opts;
  /** What each part's message shows now, and when it last changed (this process only). */
  const shown = new Map<string, { text: string; at: number }>();
  const finalized = new Set<string>();
  const signalOf = (d: Delivery) => waitSignal(d, opts.stopping);
  const count = (kind: string, outcome: string) => metrics.inc(EDITS_METRIC, { kind, outcome });
  /**
   * `at`: when the post or edit left. The interval between edits counts from there: counted from the answer, a
   * platform taking 400 ms would make every other partial (published a second apart) come too early.
   */
  const remember = (key: string, text: string, at = now()) => {
    shown.delete(key);
    shown.set(key, { text, at });
    if (shown.size > MEMORY) shown.delete(shown.keys().next().value!);
  };

  /**
   * A partial's post or edit the platform refused: counted as a send error, and its back-off (Telegram's
   * `retry_after`) holds what follows, the final reply too, as for any send.
   */
  async function partialFailed(reply: OutboundReply, outcome: Exclude<SendOutcome<P>, { kind: "sent" }>) {
    count("partial", "failed");
    metrics.inc(M.sendErrors, { platform: opts.platform, code: outcome.code ?? "unknown" });
    if (outcome.kind === "retry") pacer.defer(reply.chatId, outcome.scope, now() + outcome.afterMs);
    else if (outcome.kind === "failed" && outcome.inactive) await opts.markInactive(reply.chatId, outcome.reason);
  }

  /**
   * Posts part `key` for the first time (at most once: the ledger's intent); whether it is on the platform now.
   */
  async function post(reply: OutboundReply, key: string, part: P, d: Delivery): Promise<boolean> {
    // Not worth an egress slot's wait (`Pacer.dueLater`): stale by then.
    if (pacer.dueLater(reply.chatId) > 0) return false;
    await pacer.wait(reply.chatId, signalOf(d));
    const begun = await d.underLease((guard) => ledger.begin(key, d.fence, { partial: true, guard }));
    // Posted meanwhile, or another attempt is at it: the final settles it.
    if (begun.status !== "send") return begun.status === "sent";
    const at = now();
    const outcome = await withSendTimeout((signal) =>
      transport.send(part, { chatId: reply.chatId, key, attempt: 1, signal })
    );
    if (outcome.kind === "sent") {
      await ledger.recordSent(key, outcome.platformId ?? "", outcome.record);
      remember(key, transport.textOf(part), at);
      count("partial", "posted");
      return true;
    }
    await ledger.recordFailed(key, d.fence, outcome.reason);
    await partialFailed(reply, outcome);
    return false;
  }

  async function editPartial(reply: OutboundReply, key: string, part: P, platformId: string, d: Delivery) {
    const last = shown.get(key);
    const skip = (last && now() - last.at < opts.editIntervalMs) || pacer.dueLater(reply.chatId) > 0;
    if (skip) return void count("partial", "skipped");
    await pacer.wait(reply.chatId, signalOf(d));
    await d.assertLease();
    const at = now();
    const outcome = await withSendTimeout((signal) =>
      transport.edit(part, platformId, { chatId: reply.chatId, key, attempt: 1, signal })
    );
    if (outcome.kind === "sent") {
      remember(key, transport.textOf(part), at);
      count("partial", "edited");
    } else await partialFailed(reply, outcome);
  }

  /** Deletes part `key`'s message `platformId`, one attempt: true when it is gone. A failure is logged. */
  async function removeMessage(reply: OutboundReply, key: string, platformId: string, d: Delivery) {
    await pacer.wait(reply.chatId, signalOf(d));
    await d.assertLease();
    const outcome = await withSendTimeout((signal) =>
      transport.remove(platformId, { chatId: reply.chatId, key, attempt: 1, signal })
    );
    if (outcome.kind === "sent") {
      count("final", "removed");
      return true;
    }
    count("final", "failed");
    metrics.inc(M.sendErrors, { platform: opts.platform, code: outcome.code ?? "unknown" });
    if (outcome.kind === "retry") pacer.defer(reply.chatId, outcome.scope, now() + outcome.afterMs);
    log.warn("partial message not deleted", { chat: reply.chatId, reason: outcome.reason });
    return false;
  }

  /**
   * Sends the final text of part `key` as a new message, once: under an intent of its own (`<key>:repost`, as `key`
   * is recorded as sent), as any send. Then the old message (`oldId`) is deleted, and only then the new id replaces
   * it under `key`: a crash between the two finds the repost sent and the old id still there, and deletes it then.
   * A platform error hands it back to the bus: the redelivery sends it then.
   */
  async function sendAnew(reply: OutboundReply, key: string, part: P, oldId: string, d: Delivery, attempt: number) {
    const repostKey = `${key}:repost`;
    await pacer.wait(reply.chatId, signalOf(d));
    const begun = await d.underLease((guard) => ledger.begin(repostKey, d.fence, { guard }));
    if (begun.status === "pending") throw new EditRetryLaterError("another attempt is sending this part anew");
    // At most once, like every send whose outcome is unknown (the user may still see the old message's text).
    if (begun.status === "unknown") return reportUnknownOutcome(log, metrics, opts.platform, repostKey);
    let newId = begun.status === "sent" ? begun.platformId : undefined;
    if (newId === undefined) {
      count("final", "reposted");
      const sent = await withSendTimeout((signal) =>
        transport.send(part, { chatId: reply.chatId, key, attempt, signal })
      );
      if (sent.kind !== "sent") {
        await ledger.recordFailed(repostKey, d.fence, sent.reason);
        metrics.inc(M.sendErrors, { platform: opts.platform, code: sent.code ?? "unknown" });
        if (sent.kind === "retry") {
          pacer.defer(reply.chatId, sent.scope, now() + sent.afterMs);
          const later = retryLaterOf(sent, pacer.heldUntil(reply.chatId), d.publishedAt, now());
          throw new EditRetryLaterError(`${sent.reason} (sending the final text anew)`, later);
        }
        return log.warn("final text not sent anew", { chat: reply.chatId, reason: sent.reason });
      }
      newId = sent.platformId ?? "";
      await ledger.recordSent(repostKey, newId, sent.record);
      countSent(metrics, opts.platform, reply, now());
      remember(key, transport.textOf(part));
    }
    // The old message shows a partial text, above a part sent anew before this one (or it is gone: no harm).
    if (oldId !== newId) await removeMessage(reply, key, oldId, d);
    await ledger.recordSent(key, newId);
  }

  return {
    async partial(reply, d) {
      if (finalized.has(reply.replyKey)) return false; // the final reply's own end stops the typing
      let onScreen = false;
      try {
        const plan = await transport.plan(reply);
        if ("skipped" in plan) return false;
        for (const [i, part] of plan.parts.entries()) {
          const key = `${reply.replyKey}#${i}`;
          if (shown.get(key)?.text === transport.textOf(part)) {
            onScreen = true;
            continue;
          }
          const platformId = await ledger.wasSent(key);
          if (platformId !== undefined && platformId !== "") {
            onScreen = true; // posted before, whether or not this edit goes out
            await editPartial(reply, key, part, platformId, d);
            continue;
          }
          // A message goes below the chat's last one: a part not posted keeps the later ones back, or they would
          // read above it.
          if (!(await post(reply, key, part, d))) return onScreen;
          onScreen = true;
        }
      } catch (err) {
        log.debug("partial reply not shown", { chat: reply.chatId, replyKey: reply.replyKey, err });
      }
      return onScreen;
    },

    async finalPart(reply, key, part, d, below, mayHandBack) {
      finalized.add(reply.replyKey);
      if (finalized.size > MEMORY) finalized.delete(finalized.values().next().value!);
      const platformId = await ledger.wasSent(key);
      if (platformId === undefined || platformId === "") return false;
      // Sent anew by an earlier attempt (then the parts after it go anew too, on this redelivery as well).
      if (below || (await ledger.wasSent(`${key}:repost`)) !== undefined) {
        await sendAnew(reply, key, part, platformId, d, 1);
        return "anew";
      }
      const text = transport.textOf(part);
      if (shown.get(key)?.text === text) return "in place";
      for (let attempt = 1;; attempt++) {
        const last = shown.get(key);
        const wait = last ? last.at + opts.editIntervalMs - now() : 0;
        if (wait > 0) await opts.sleep(wait, signalOf(d));
        // No await between this look and the wait's reservation: edits that start together see each other's.
        const dueAt = mayHandBack && attempt === 1 ? pacer.dueLater(reply.chatId) : 0;
        if (dueAt > 0) throw new SlotLaterError(dueAt);
        await pacer.wait(reply.chatId, signalOf(d));
        await d.assertLease();
        const ctx = { chatId: reply.chatId, key, attempt };
        const at = now();
        const outcome = await withSendTimeout((signal) => transport.edit(part, platformId, { ...ctx, signal }));
        if (outcome.kind === "sent") {
          remember(key, text, at);
          count("final", "edited");
          // Posted as a partial, its final text an edit: a message out, timed from its question, all the same.
          countSent(metrics, opts.platform, reply, now());
          return "in place";
        }
        if (outcome.kind === "retry") {
          count("final", "failed");
          pacer.defer(reply.chatId, outcome.scope, now() + outcome.afterMs); // the bus's redelivery waits for it too
          if (attempt >= opts.maxAttempts) {
            const later = retryLaterOf(outcome, pacer.heldUntil(reply.chatId), d.publishedAt, now());
            throw new EditRetryLaterError(`${outcome.reason}, ${attempt} attempts`, later);
          }
          continue;
        }
        // The user blocked the bot: nothing reaches them, a new message no more than the edit.
        if (outcome.kind === "failed" && outcome.inactive) {
          count("final", "failed");
          await opts.markInactive(reply.chatId, outcome.reason);
          return "in place";
        }
        // The message cannot be edited (deleted by the user, too old): the final text goes out as a new message.
        log.warn("message not editable; sending the final text anew", { chat: reply.chatId, reason: outcome.reason });
        await sendAnew(reply, key, part, platformId, d, attempt);
        return "anew";
      }
    },

    async removeRest(reply, from, d) {
      // Every part a partial posted.
      for (const { index, platformId } of await ledger.sentParts(reply.replyKey, from)) {
        const key = `${reply.replyKey}#${index}`;
        if (platformId !== "" && (await removeMessage(reply, key, platformId, d))) shown.delete(key);
      }
    },

    finished(reply) {
      finalized.add(reply.replyKey);
      for (const key of [...shown.keys()]) if (key.startsWith(`${reply.replyKey}#`)) shown.delete(key);
    },
  };
}
