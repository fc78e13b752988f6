/**
 * "Typing…" while a turn is in flight. The channel starts it when it stores a message the orchestrator will
 * answer and stops it when the reply for that chat was sent (or after `maxMs`, so a lost turn does not type
 * forever). Telegram shows a chat action for 5 s, so it is renewed every `refreshMs`. Best effort: a failed
 * renewal is logged at debug level and never affects ingress or egress.
 *
 * @module
 */
import type { Sleep } from "./sleep.ts";

export interface TypingOptions {
  refreshMs: number;
  maxMs: number;
  sleep: Sleep;
  now: () => number;
  /** One typing action (Telegram `sendChatAction`). */
  send(chatId: string): Promise<void>;
  onError?(chatId: string, err: unknown): void;
}

export interface Typing {
  start(chatId: string): void;
  stop(chatId: string): void;
  /** Chats typing now. */
  active(): string[];
  stopAll(): void;
}

export function createTyping(opts: TypingOptions): Typing {
  const running = new Map<string, AbortController>();

  const loop = async (chatId: string, ctrl: AbortController) => {
    const until = opts.now() + opts.maxMs;
    try {
      while (!ctrl.signal.aborted && opts.now() < until) {
        try {
          await opts.send(chatId);
        } catch (err) {
          opts.onError?.(chatId, err);
        }
        await opts.sleep(Math.min(opts.refreshMs, Math.max(0, until - opts.now())), ctrl.signal);
      }
    } catch {
      // aborted: stopped
    } finally {
      if (running.get(chatId) === ctrl) running.delete(chatId);
    }
  };

  return {
    start(chatId) {
      if (opts.maxMs <= 0 || running.has(chatId)) return;
      const ctrl = new AbortController();
      running.set(chatId, ctrl);
      void loop(chatId, ctrl);
    },
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
