/**
 * How a user's message enters an ingress batch, the same for every channel. Text goes to the orchestrator as
 * `kind: "text"`, or `"command"` for /start, /help, /reset, /human. Non-text (stickers, voice, photos without a
 * caption, …) goes as `kind: "unsupported"` when the channel's `nonText` policy is "answer", or is recorded as
 * ignored. Every answer — the /start greeting, the polite non-text notice — comes from the orchestrator's role
 * logic, so each inbound message gets exactly one reply and the channel never answers on its own.
 *
 * @module
 */
import type { InboundMessage } from "../../bus/envelopes.ts";
import { parseCommand } from "./commands.ts";
import type { IngressBatch } from "./ingress.ts";
import { INVISIBLE, keepSpelling } from "./invisible.ts";
import { recordSkipped } from "./skipped.ts";

/** The inbound message without `kind`, `text` and `attachment`, which this module decides. */
export type InboundBase = Omit<InboundMessage, "kind" | "text" | "attachment">;

export type NonTextPolicy = "answer" | "ignore";

/** Something to read: a character that is not a space, a combining mark on its own, or invisible. */
const VISIBLE = new RegExp(String.raw`[^\s\p{M}${INVISIBLE}]`, "u");

/** True when `text` shows nothing: an empty message, which no turn (and no model) should get. */
export function isBlank(text: string): boolean {
  return !VISIBLE.test(text);
}

/**
 * Adds a text message (or a command) with its idempotency key `key`. Invisible characters are dropped: a model
 * reads Unicode tag characters as text ("ASCII smuggling") while the reader, and the cache's key, see nothing, so
 * a hidden instruction would steer an answer stored for the visible question and served to everyone asking it. A
 * joiner that is part of the spelling stays (`keepSpelling`). `attachment`: the media a caption came with ("photo",
 * "video", …), which nobody reads; the orchestrator tells the model and the operator it was there.
 */
export function addText(
  batch: IngressBatch,
  base: InboundBase,
  key: string,
  raw: string,
  attachment?: string,
): void {
  const text = keepSpelling(raw);
  const command = parseCommand(text);
  const media = attachment !== undefined ? { attachment } : {};
  const message: InboundMessage = command
    ? { ...base, ...media, kind: "command", text: command.text }
    : { ...base, ...media, kind: "text", text };
  batch.inbound.push({ message, idempotencyKey: key });
}

/**
 * Adds a non-text message (`detail`: sticker, photo, audio, …). Returns true when it was published for an answer,
 * false when it was recorded as ignored.
 */
export function addNonText(
  batch: IngressBatch,
  base: InboundBase,
  key: string,
  detail: string,
  policy: NonTextPolicy,
  now: number,
): boolean {
  if (policy === "ignore") {
    const skipped = {
      platformId: base.platformId,
      chatId: base.chatId,
      reason: "ignored" as const,
      detail,
      sentAt: base.sentAt,
    };
    batch.rows.push(recordSkipped(base.agent, skipped, now));
    return false;
  }
  batch.inbound.push({ message: { ...base, kind: "unsupported", text: `[${detail}]` }, idempotencyKey: key });
  return true;
}
