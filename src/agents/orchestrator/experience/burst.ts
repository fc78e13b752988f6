/**
 * Burst coalescing: the turn for a chat's message waits until the chat is quiet (no new message for `quietMs`,
 * never longer than `maxWaitMs` after the burst's first message), then takes the messages stored after it that are
 * still waiting — up to a command or another user's message (in a group), which get their own turns — and answers
 * them together. Non-text messages in a burst (an album's other photos, a picture sent beside the question) have
 * no text of their own: the burst's answer covers them. The set is frozen here, before any model call: a message
 * stored later waits for the next turn.
 *
 * @module
 */
import type { InboundMessage } from "../../../bus/envelopes.ts";
import { steadyClock } from "../../../deadline.ts";
import type { Faq } from "../../../router/faq.ts";
import type { CoalesceSettings } from "../../channel/experience.ts";
import type { Inbox, InboxRow } from "./inbox.ts";

export interface BurstDeps {
  inbox: Inbox;
  now: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface BurstInput {
  agent: string;
  chatId: string;
  /** The row of the message being handled (the burst's first). */
  own: InboxRow;
  /** Its sender: a burst is one user's messages (a group chat has several users). */
  userId: string;
  settings: CoalesceSettings;
  /** False on a retry: the burst was already waited for once, take what is there. */
  wait: boolean;
  /** Total characters the burst may have (the abuse limit on input). */
  maxChars: number;
  signal: AbortSignal;
}

/** The messages stored after `own` that this turn answers too (oldest first; empty when nothing followed). */
export async function collectBurst(deps: BurstDeps, input: BurstInput): Promise<InboxRow[]> {
  const { own, settings } = input;
  const limit = settings.maxMessages - 1;
  if (limit <= 0) return [];
  const deadline = own.receivedAt + settings.maxWaitMs;
  // The rows' times are wall-clock times (another process stored them): a clock stepped back would make this turn
  // sleep the step. Each sleep is at most quietMs, and the whole wait at most maxWaitMs as a steady clock counts.
  const waited = steadyClock(deps.now);
  for (;;) {
    const waiting = await deps.inbox.pendingAfter(input.agent, input.chatId, own.seq, limit + 1);
    const burst: InboxRow[] = [];
    let chars = own.text.length;
    let closed = waiting.length > limit; // more than one turn may take: the rest waits for the next
    let last = own.receivedAt;
    for (const row of waiting) {
      // A command is its own turn, and so is another user's message; a message that would make the burst too long
      // starts the next one.
      const text = row.kind === "text" ? row.text : "";
      if (
        row.kind === "command" || row.userId !== input.userId || chars + 1 + text.length > input.maxChars ||
        burst.length >= limit
      ) {
        closed = true;
        break;
      }
      last = Math.max(last, row.receivedAt);
      // Stored but not on the bus (yet): its publish is in progress, or failed and the platform will send it
      // again. Only what is on the bus is answered; the burst ends before it unless it gets there in time.
      if (row.busId === undefined) break;
      chars += 1 + text.length;
      burst.push(row);
    }
    const t = deps.now();
    const quietAt = last + settings.quietMs;
    if (!input.wait || closed || t >= quietAt || t >= deadline || waited() >= settings.maxWaitMs) return burst;
    await deps.sleep(Math.min(quietAt, deadline, t + settings.quietMs) - t, input.signal);
  }
}

/** The texts of a burst's messages after its first (its non-text messages have none). */
export function burstTexts(burst: readonly InboxRow[]): string[] {
  return burst.flatMap((r) => (r.kind === "text" ? [r.text] : []));
}

/** The text a model sees for a burst: the messages in order, one per line. */
export function burstText(own: string, burst: readonly InboxRow[]): string {
  return [own, ...burstTexts(burst)].join("\n");
}

/**
 * The media nobody sees of a message and of its burst's ("photo ×3", "image, sticker"): its non-text messages and
 * the media its captions came with; undefined for none. What the model and an operator are told came with the text.
 */
export function burstMedia(
  own: Pick<InboundMessage, "kind" | "text" | "attachment">,
  burst: readonly InboxRow[],
): string | undefined {
  // A non-text message's text is its kind in brackets ("[photo]": channel/inbound.ts); a caption's row names its media.
  const kindOf = (m: { kind: string; text: string; attachment?: string | undefined }) =>
    m.attachment ?? (m.kind === "unsupported" ? m.text.replace(/^\[(.*)\]$/, "$1") : undefined);
  const counts = new Map<string, number>();
  for (const kind of [own, ...burst].map(kindOf)) {
    if (kind !== undefined) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  if (counts.size === 0) return undefined;
  return [...counts].map(([kind, n]) => (n > 1 ? `${kind} ×${n}` : kind)).join(", ");
}

/**
 * The FAQ answers of a burst's messages (`texts`: the lead's first), in order, each answer once; `matched` of
 * `of` messages had one, `unmatched` are the others. A burst joined into one text matches at most one entry, or none.
 */
export function burstFaq(
  faq: Faq,
  texts: readonly string[],
): { text: string; ids: string; matched: number; of: number; unmatched: string[] } {
  const answers = new Map<string, string>();
  const unmatched: string[] = [];
  for (const text of texts) {
    const hit = faq.answer(text);
    if (hit) answers.set(hit.id, hit.answer);
    else unmatched.push(text);
  }
  const matched = texts.length - unmatched.length;
  return { text: [...answers.values()].join("\n\n"), ids: [...answers.keys()].join("+"), matched, of: texts.length, unmatched };
}
