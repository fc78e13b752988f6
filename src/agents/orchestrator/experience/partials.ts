/**
 * Progressive replies, the orchestrator's half: while a model streams, publish the text so far as partial
 * replies for a channel that can edit its message (Telegram). The first partial goes out as soon as the text
 * has a complete sentence (or `firstMaxChars` without one), later ones at most every `editIntervalMs` and only
 * whole words (a half-written link is never shown, unless its path is Chinese or Japanese: text in those
 * scripts, which has no spaces, is cut after any whole character); each passes the role's hygiene first.
 * `close()` waits for the partial being published, so the final reply always comes after the last partial on
 * the bus.
 *
 * @module
 */
import type { StreamSettings } from "../../channel/experience.ts";
import { lastCjkBreak, lastSentenceEnd } from "../../channel/split.ts";

export interface PartialPublisherOptions {
  settings: StreamSettings;
  now: () => number;
  /** Publishes one partial (the whole text so far) with its sequence number (1, 2, …). */
  publish(text: string, seq: number): Promise<void>;
  /** Makes a partial safe to show (links, leaked instructions); undefined ends the partials for this turn. */
  review(text: string): string | undefined;
  /** A failed publish ends the partials (the final reply still comes). */
  onError(err: unknown): void;
}

export interface PartialPublisher {
  /** The model's whole text so far. Never blocks, never throws. */
  update(text: string): void;
  /** Whether a partial was published (or is being): until then, another provider may still answer instead. */
  shown(): boolean;
  /** No more partials; resolves once the one being published is on the bus. Returns how many were published. */
  close(): Promise<number>;
}

/**
 * The end of the last whole word, or -1: the last whitespace, or a cut after a Chinese or Japanese character
 * after it (those scripts have no spaces, and their replies would otherwise show nothing until the end).
 */
function lastWordEnd(text: string): number {
  const m = /\s(?=\S*$)/.exec(text);
  const space = m ? m.index + 1 : -1;
  return Math.max(space, lastCjkBreak(text, space));
}

/** What of `text` may be shown: the first partial needs a sentence (or enough text), later ones whole words. */
export function showable(text: string, first: boolean, firstMaxChars: number): string | undefined {
  let end = first ? lastSentenceEnd(text) : lastWordEnd(text);
  if (end < 0 && first && text.length >= firstMaxChars) end = lastWordEnd(text);
  if (end <= 0) return undefined;
  const out = text.slice(0, end).trim();
  return out === "" ? undefined : out;
}

export function createPartialPublisher(opts: PartialPublisherOptions): PartialPublisher {
  const { settings, now } = opts;
  let latest = "";
  let shown: string | undefined;
  let seq = 0;
  let lastAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const pump = (): void => {
    if (stopped || inFlight) return;
    const candidate = showable(latest, seq === 0, settings.firstMaxChars);
    if (candidate === undefined || candidate === shown) return;
    const wait = lastAt + settings.editIntervalMs - now();
    if (wait > 0) {
      timer ??= setTimeout(() => {
        timer = undefined;
        pump();
      }, wait);
      return;
    }
    const safe = opts.review(candidate);
    if (safe === undefined) {
      stopped = true;
      return;
    }
    shown = candidate;
    if (safe.trim() === "") return;
    lastAt = now();
    const n = ++seq;
    inFlight = opts.publish(safe, n)
      .catch((err) => {
        stopped = true;
        opts.onError(err);
      })
      .finally(() => {
        inFlight = undefined;
        pump();
      });
  };

  return {
    update(text) {
      latest = text;
      pump();
    },
    shown: () => seq > 0,
    async close() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      await inFlight;
      return seq;
    },
  };
}
