/**
 * Send pacing inside one channel agent: a minimum gap between two messages to the same chat and a global rate
 * for the whole bot or phone number. Every send reserves its chat's slot synchronously before it waits, so
 * concurrent handlers never pick the same slot, and takes a global slot only when its chat's is due. Back-off from
 * the platform (`retry_after`, 131056, 130429) pushes that chat's next slot later, or every chat's, and holds the
 * sends already waiting for a slot until it ends.
 *
 * @module
 */
import { monotonicClock } from "../../deadline.ts";
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
}

export interface Pacer {
  /** Waits until a send to `key` is allowed, and takes that slot. */
  wait(key: string, signal?: AbortSignal): Promise<void>;
  /** No send before `until` (epoch ms): to `key` (`scope` "chat"), or at all ("all"), as the platform's back-off says. */
  defer(key: string, scope: "chat" | "all", until: number): void;
  /** The end of the platform's back-off for `key` (its chat's or every chat's), epoch ms; 0 when none was seen. */
  heldUntil(key: string): number;
}

/** Chats idle for this long are forgotten, so the map stays small. */
const FORGET_AFTER_MS = 10 * 60_000;

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
    defer(topicKey, scope, wallUntil) {
      const key = chatOf(topicKey);
      const until = clock() + (wallUntil - opts.now());
      if (scope === "all") {
        holdAll = Math.max(holdAll, until);
        nextGlobal = Math.max(nextGlobal, until);
      } else {
        nextByKey.set(key, Math.max(nextByKey.get(key) ?? 0, until));
        holdByKey.set(key, Math.max(holdByKey.get(key) ?? 0, until));
      }
    },
    heldUntil(topicKey) {
      const until = held(chatOf(topicKey));
      return until === 0 ? 0 : opts.now() + (until - clock());
    },
  };
}
