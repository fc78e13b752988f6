/**
 * "Typing…" while a turn is in flight. The channel starts it when it stores a message the orchestrator will
 * answer and stops it when the reply for that chat was sent (or after `maxMs`, so a lost turn does not type
 * forever). With `delayMs` the first action waits that long: an FAQ or cache answer goes out within milliseconds,
 * and a typing action for it would only be one more API call per message. Telegram shows a chat action for 5 s,
 * so it is renewed every `refreshMs`; WhatsApp's indicator lasts up to 25 s. Before each renewal `stillWaiting`
 * asks whether the chat still has a message waiting for its turn: a turn that ends without a reply to this chat (a
 * chat paused for a person, a rate-limit silence) stops the indicator at the next renewal instead of after `maxMs`.
 * An indicator that runs out its `maxMs` unstopped says so (`expired`).
 * Best effort: a failed renewal is logged at debug level and never affects ingress or egress.
 *
 * Every action is an API call that counts against the bot's limits, and replies that are late for whatever reason
 * (a slow model, a backlog) would each start one: `maxPerSecond` bounds the actions of the whole agent (a token
 * bucket holding one second's worth); a renewal without a token is skipped, not queued, and so is its check. An
 * action the channel takes outside the loop takes its token too (`take`: WhatsApp's mark-as-read at ingress).
 * Without it, 1,250 webhooks/s (past what two cores answer) made ~2,850 typing actions per 10 s per Telegram
 * agent, nearly one per message. Where the platform counts these calls in the same limit as the messages
 * (WhatsApp: the number's throughput), a token also needs room in that limit (`room`): replies keep their pace
 * and the actions use what they leave.
 *
 * @module
 */
import { monotonicClock } from "../../deadline.ts";
import type { Sleep } from "./sleep.ts";

export interface TypingOptions {
  refreshMs: number;
  maxMs: number;
  /** How long a turn must be in flight before the first action (default 0: at once). */
  delayMs?: number;
  /** Typing actions per second for the whole agent, over all chats. */
  maxPerSecond: number;
  sleep: Sleep;
  now: () => number;
  /** One typing action (Telegram `sendChatAction`, WhatsApp mark-as-read with the typing indicator). */
  send(chatId: string): Promise<void>;
  /** Asked before each renewal; false stops the indicator. An error counts as true. */
  stillWaiting?(chatId: string): Promise<boolean>;
  /**
   * Called when `stillWaiting` said false: true when it took an action of its own with the renewal's token
   * (WhatsApp marks a message the budget left unmarked read); else the token is not spent.
   */
  ended?(chatId: string): boolean;
  /**
   * Called when the indicator ran out (`maxMs`) without being stopped: what the renewals never got a token for is
   * still undone (WhatsApp marks the message read later, once the number's limit has room).
   */
  expired?(chatId: string): void;
  onError?(chatId: string, err: unknown): void;
  /** Whether a limit the actions share with the messages has room for one now; false skips it (default: true). */
  room?(): boolean;
}

export interface Typing {
  /**
   * Starts the indicator; `firstTaken`: the caller took the first action itself, with a token from `take()`
   * (WhatsApp marks the message read with the indicator), so the loop begins with the first renewal.
   */
  start(chatId: string, firstTaken?: boolean): void;
  /** Takes one of the agent's action tokens, for an action taken outside the loop; false when there is none. */
  take(): boolean;
  stop(chatId: string): void;
  /** Chats typing now. */
  active(): string[];
  stopAll(): void;
}

export function createTyping(opts: TypingOptions): Typing {
  const clock = monotonicClock(opts.now); // a wall clock stepped back would empty the bucket for the step
  const running = new Map<string, AbortController>();
  let tokens = opts.maxPerSecond;
  let refilled = clock();
  /** Takes a token if there is one. */
  const take = () => {
    const t = clock();
    tokens = Math.min(opts.maxPerSecond, tokens + ((t - refilled) / 1000) * opts.maxPerSecond);
    refilled = t;
    if (tokens < 1 || opts.room?.() === false) return false;
    tokens -= 1;
    return true;
  };

  const loop = async (chatId: string, ctrl: AbortController, firstTaken: boolean) => {
    const until = clock() + opts.maxMs;
    try {
      const delayMs = firstTaken ? 0 : opts.delayMs ?? 0;
      if (delayMs > 0) await opts.sleep(Math.min(delayMs, opts.maxMs), ctrl.signal);
      for (let first = true; !ctrl.signal.aborted && clock() < until; first = false) {
        // The token is taken before the check, so renewals that wake together never check more than they send.
        // A first action after the delay is checked too: the message may have been answered or silenced meanwhile.
        if ((!first || !firstTaken) && take()) {
          const over = (!first || delayMs > 0) && opts.stillWaiting !== undefined &&
            !(await opts.stillWaiting(chatId).catch(() => true));
          if (over || ctrl.signal.aborted) {
            if (!(over && opts.ended?.(chatId))) tokens = Math.min(opts.maxPerSecond, tokens + 1); // not spent
            return;
          }
          try {
            await opts.send(chatId);
          } catch (err) {
            opts.onError?.(chatId, err);
          }
        }
        await opts.sleep(Math.min(opts.refreshMs, Math.max(0, until - clock())), ctrl.signal);
      }
      if (!ctrl.signal.aborted) opts.expired?.(chatId);
    } catch {
      // aborted: stopped
    } finally {
      if (running.get(chatId) === ctrl) running.delete(chatId);
    }
  };

  return {
    start(chatId, firstTaken = false) {
      if (opts.maxMs <= 0 || running.has(chatId)) return;
      const ctrl = new AbortController();
      running.set(chatId, ctrl);
      void loop(chatId, ctrl, firstTaken);
    },
    take,
    stop(chatId) {
      running.get(chatId)?.abort();
      running.delete(chatId);
    },
    active: () => [...running.keys()],
    stopAll() {
      for (const ctrl of running.values()) ctrl.abort();
      running.clear();
    },
  };
}
