/**
 * Send pacing inside one channel agent: a minimum gap between two messages to the same chat and a global rate
 * for the whole bot or phone number. Every send reserves its chat's slot synchronously before it waits, so
 * concurrent handlers never pick the same slot, and takes a global slot only when its chat's is due. Back-off from
 * the platform (`retry_after`, 131056, 130429) pushes that chat's next slot later, or every chat's, and holds the
 * sends already waiting for a slot until it ends.
 *
 * A send waits for its slot while it holds one of the egress consumer's slots, so `dueLater` tells egress when a
 * chat's slot is further off than that is worth (a busy forum's topics, a back-off): the reply goes back to the bus
 * until then. Calls to no chat that count against the global rate (WhatsApp's mark-as-read) take its slots too
 * (`waitGlobal`); `slotsAhead` tells one that may be skipped whether sends already wait for theirs.
 *
 * @module
 */
import { monotonicClock } from "../../deadline.ts";
import { NotYetError } from "../../bus/types.ts";
import type { Sleep } from "./sleep.ts";

export interface PacerOptions {
  /**
   * Minimum gap in ms between two sends to one chat (Telegram ~1000, 3000 to a group; WhatsApp pair rate ~6000),
   * or the gap of each chat.
   */
  perKeyMs: number | ((chat: string) => number);
  /** Sends per second across all chats (Telegram ~30 per bot, WhatsApp 80 per number). */
  perSecond: number;
  now: () => number;
  sleep: Sleep;
  /** The platform's chat of a key, whose limits it shares (a Telegram forum topic's: its group). Default: the key. */
  chatOf?: (key: string) => string;
  /**
   * Called when a back-off for every chat ends later than the one held (epoch ms), with the platform's code: a
   * channel keeps it across a restart.
   */
  onHoldAll?(until: number, code: string | undefined): void;
}

export interface Pacer {
  /** Waits until a send to `key` is allowed, and takes that slot. */
  wait(key: string, signal?: AbortSignal): Promise<void>;
  /**
   * No send before `until` (epoch ms): to `key` (`scope` "chat"), or at all ("all"), as the platform's back-off
   * says; `code` is the platform's (for `onHoldAll`).
   */
  defer(key: string, scope: "chat" | "all", until: number, code?: string): void;
  /**
   * When `key`'s chat has its next slot more than one chat gap away (at least `HAND_BACK_MS`): that time, epoch
   * ms, without taking the slot; else 0.
   */
  dueLater(key: string): number;
  /** Takes the next global slot, waiting for it: a call to no chat that counts against the same limit. */
  waitGlobal(signal?: AbortSignal): Promise<void>;
  /** Global slots already taken past now (sends waiting for theirs; a back-off for every chat counts as many). */
  slotsAhead(): number;
  /** The end of the platform's back-off for `key` (its chat's or every chat's), epoch ms; 0 when none was seen. */
  heldUntil(key: string): number;
}

/**
 * A reply whose chat's next slot is further off than a chat gap (`Pacer.dueLater`: a busy forum's topics, a
 * back-off), before any of it was sent: waiting, it would hold a consumer slot, and a chat with more keys waiting
 * than there are slots would stall every other chat. Back to the bus until then, not counted (the bus keeps the
 * key's later replies behind it).
 */
export class SlotLaterError extends NotYetError {
  constructor(retryAt: number) {
    super("its chat's next send slot is later", retryAt);
  }
}

/** Chats idle for this long are forgotten, so the map stays small. */
const FORGET_AFTER_MS = 10 * 60_000;
/** Waits up to this long (or one chat gap, when longer) are worth a consumer slot: a chat's next send is that near. */
export const HAND_BACK_MS = 1_000;

export function createPacer(opts: PacerOptions): Pacer {
  // Its own times on a clock that never steps back: a wall clock stepped back would hold every send for the step.
  const clock = monotonicClock(opts.now);
  const gapMs = 1000 / opts.perSecond;
  const nextByKey = new Map<string, number>();
  /** The platform's back-off per chat: what a send already waiting for its slot must still honour. */
  const holdByKey = new Map<string, number>();
  /** The same for every chat (130429, a refused token): what a send already holding a global slot must honour. */
  let holdAll = 0;
  let nextGlobal = 0;
  let lastSweep = 0;

  const sweep = (t: number) => {
    if (t - lastSweep < FORGET_AFTER_MS) return;
    lastSweep = t;
    for (const [k, at] of nextByKey) if (at < t - FORGET_AFTER_MS) nextByKey.delete(k);
    for (const [k, at] of holdByKey) if (at < t) holdByKey.delete(k);
  };

  const chatOf = opts.chatOf ?? ((key: string) => key);
  const perKeyMs = opts.perKeyMs;
  const gapOf = typeof perKeyMs === "number" ? () => perKeyMs : perKeyMs;
  const held = (key: string) => Math.max(holdByKey.get(key) ?? 0, holdAll);
  return {
    async wait(topicKey, signal) {
      const key = chatOf(topicKey);
      const t = clock();
      sweep(t);
      // First the chat's own slot (its gap, its back-off), reserved at once; the global slot only once that is
      // due, so one chat's wait never holds up the others. Whole milliseconds: 80/s is a 12.5 ms gap.
      const chatAt = Math.ceil(Math.max(t, nextByKey.get(key) ?? 0));
      const chatGap = gapOf(key);
      nextByKey.set(key, chatAt + chatGap);
      if (chatAt > t) await opts.sleep(chatAt - t, signal);
      for (;;) {
        // A back-off that came while it waited (another topic of the group met a 429, or a send of another chat met
        // 130429) is waited out too, and so is one that came while it waited for its global slot below: the slot was
        // taken before the back-off moved `nextGlobal` past it.
        const until = held(key);
        const now = clock();
        if (until > now) {
          nextByKey.set(key, Math.max(nextByKey.get(key) ?? 0, until + chatGap));
          await opts.sleep(until - now, signal);
          continue;
        }
        const at = Math.ceil(Math.max(now, nextGlobal));
        nextGlobal = at + gapMs;
        if (at > chatAt) nextByKey.set(key, Math.max(nextByKey.get(key) ?? 0, at + chatGap));
        if (at <= now) return;
        await opts.sleep(at - now, signal);
        if (held(key) <= clock()) return;
      }
    },
    defer(topicKey, scope, wallUntil, code) {
      const key = chatOf(topicKey);
      const until = clock() + (wallUntil - opts.now());
      if (scope === "all") {
        if (until > holdAll) opts.onHoldAll?.(wallUntil, code);
        holdAll = Math.max(holdAll, until);
        nextGlobal = Math.max(nextGlobal, until);
      } else {
        nextByKey.set(key, Math.max(nextByKey.get(key) ?? 0, until));
        holdByKey.set(key, Math.max(holdByKey.get(key) ?? 0, until));
      }
    },
    dueLater(topicKey) {
      const key = chatOf(topicKey);
      const waitMs = Math.max(nextByKey.get(key) ?? 0, held(key)) - clock();
      return waitMs > Math.max(gapOf(key), HAND_BACK_MS) ? opts.now() + waitMs : 0;
    },
    async waitGlobal(signal) {
      for (;;) {
        const now = clock();
        if (holdAll > now) {
          await opts.sleep(holdAll - now, signal);
          continue;
        }
        const at = Math.ceil(Math.max(now, nextGlobal));
        nextGlobal = at + gapMs;
        if (at > now) await opts.sleep(at - now, signal);
        if (holdAll <= clock()) return; // else a back-off came while it waited
      }
    },
    slotsAhead: () => Math.max(0, nextGlobal - clock()) / gapMs,
    heldUntil(topicKey) {
      const until = held(chatOf(topicKey));
      return until === 0 ? 0 : opts.now() + (until - clock());
    },
  };
}
