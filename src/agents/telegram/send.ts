/**
 * Telegram's side of egress: a reply becomes plain-text messages of at most 4,096 characters (no parse mode, so
 * nothing the model writes is interpreted as markup; link previews off), and Bot API errors become outcomes:
 * 429 waits `retry_after`, 403 (blocked, deactivated, kicked) marks the contact inactive, 401 or 404 (the token
 * refused or malformed) holds every send, 5xx, network errors and a proxy's own error back off (and go back to the
 * bus without end, `unavailable`), other 4xx fail for good; a group upgraded to a supergroup (`migrate_to_chat_id`)
 * gets the reply and its edits in the supergroup.
 * `edit` (progressive replies) replaces a sent message's text with `editMessageText`; "message is not modified"
 * means it already shows that text; `remove` deletes one (`deleteMessage`; "message to delete not found" means it
 * is already gone).
 *
 * @module
 */
import { type Api, GrammyError, HttpError } from "grammy/web";
import type { Client } from "../../store/mod.ts";
import { blockedContact } from "../channel/contacts.ts";
import { authBackoffMs, backoffMs, type SendOutcome } from "../channel/outcome.ts";
import type { EditingTransport } from "../channel/progressive.ts";
import { splitText } from "../channel/split.ts";
import { isTokenRefused, toGrammySignal } from "./api.ts";
import { recordChatMove } from "./moves.ts";

export const TELEGRAM_TEXT_LIMIT = 4096;

/**
 * Where a chat key (update.ts `chatKeyOf`) sends to: numeric ids as numbers, `@channel` names as strings, a forum
 * topic's `<chat id>/<thread>` as the chat and its `message_thread_id`, and a user's topic of a channel's direct
 * messages chat, `<chat id>/dm<topic>`, as the chat and its `direct_messages_topic_id`.
 */
export function toTarget(
  chatKey: string,
): { chatId: number | string; thread?: { message_thread_id: number } | { direct_messages_topic_id: number } } {
  const [chat = chatKey, topic] = chatKey.split("/");
  const chatId = /^-?\d+$/.test(chat) ? Number(chat) : chat;
  if (topic === undefined) return { chatId };
  return topic.startsWith("dm")
    ? { chatId, thread: { direct_messages_topic_id: Number(topic.slice(2)) } }
    : { chatId, thread: { message_thread_id: Number(topic) } };
}

/** Maps a failed Bot API call to an egress outcome. */
export function toTelegramOutcome(err: unknown, attempt: number): SendOutcome<string> {
  // A proxy or gateway in front of the Bot API answering its own error in JSON (grammY makes that a GrammyError
  // without `error_code`): the request may not have reached Telegram, so it is tried again like a 5xx.
  if (err instanceof GrammyError && typeof err.error_code !== "number") {
    const reason = "answered without a Bot API error (a proxy's?)";
    const afterMs = backoffMs(attempt, 1_000, 2, 30_000);
    return { kind: "retry", afterMs, scope: "chat", reason, code: "no-bot-api-error", unavailable: true };
  }
  if (err instanceof GrammyError) {
    const reason = `${err.error_code}: ${err.description}`;
    const code = String(err.error_code);
    if (err.error_code === 429) {
      const afterS = err.parameters.retry_after ?? 1;
      return { kind: "retry", afterMs: afterS * 1000, scope: "chat", reason, code };
    }
    if (err.error_code === 403) return { kind: "failed", reason, code, inactive: true };
    // The token is refused (revoked, mistyped): every send waits, then the reply goes back to the bus; never dropped.
    if (isTokenRefused(err.error_code)) {
      return { kind: "retry", afterMs: authBackoffMs(attempt), scope: "all", reason, code };
    }
    // Telegram is down: retried without end (`unavailable`), the reply is sent once it answers again.
    if (err.error_code >= 500) {
      const afterMs = backoffMs(attempt, 1_000, 2, 30_000);
      return { kind: "retry", afterMs, scope: "chat", reason, code, unavailable: true };
    }
    return { kind: "failed", reason, code };
  }
  if (err instanceof HttpError) {
    // Network failure or timeout: the message may or may not have arrived; the platform has no idempotency key,
    // so retrying risks a duplicate — still the better choice than losing the answer.
    return {
      kind: "retry",
      afterMs: backoffMs(attempt, 1_000, 2, 30_000),
      scope: "chat",
      reason: "network error",
      code: "network",
      unavailable: true,
    };
  }
  throw err;
}

const NOT_MODIFIED = /message is not modified/i;
const NOT_FOUND = /message to delete not found/i;

/** The chat and message id of a sent message's platform id (`<supergroup>:<id>` when it moved there). */
function messageOf(chatId: string, platformId: string): [chat: number | string, messageId: number] {
  const [moved, messageId] = platformId.includes(":") ? platformId.split(":") : [undefined, platformId];
  return [moved === undefined ? toTarget(chatId).chatId : Number(moved), Number(messageId)];
}

export function createTelegramTransport(
  opts: {
    api: Api;
    client: Client;
    agent: string;
    /** After each send: the Bot API's error code, or null when it was sent (the agent's health follows refused tokens). */
    onResult?(code: number | null): void;
  },
): EditingTransport<string> {
  return {
    textOf: (text) => text,
    async plan(reply) {
      // A user who blocked the bot gets nothing, in their private chat's topics neither: no 403 per reply.
      const blocked = await blockedContact(opts.client, opts.agent, reply.chatId);
      if (blocked) return { skipped: `contact inactive (${blocked.inactiveReason ?? "blocked"})` };
      const parts = splitText(reply.text, TELEGRAM_TEXT_LIMIT);
      return parts.length === 0 ? { skipped: "empty reply" } : { parts };
    },
    async send(text, { chatId, attempt, signal }) {
      const post = (to: ReturnType<typeof toTarget>) =>
        opts.api.sendMessage(to.chatId, text, {
          link_preview_options: { is_disabled: true },
          ...to.thread,
        }, toGrammySignal(signal));
      try {
        let moved: number | undefined;
        const sent = await post(toTarget(chatId)).catch(async (err) => {
          // A group upgraded to a supergroup (400 with `migrate_to_chat_id`): the reply goes to the supergroup, and
          // its id says so, for the edits of a streamed reply. (A message posted in the group before the upgrade
          // stays there: its edits fail, and the final text is posted anew.)
          moved = err instanceof GrammyError ? err.parameters.migrate_to_chat_id : undefined;
          if (moved === undefined) throw err;
          // Recorded first: the operator's answers from the supergroup are taken as theirs (moves.ts).
          await opts.client.execute(recordChatMove(String(toTarget(chatId).chatId), String(moved)));
          return post({ chatId: moved });
        });
        opts.onResult?.(null);
        const platformId = moved === undefined ? String(sent.message_id) : `${moved}:${sent.message_id}`;
        return { kind: "sent", platformId };
      } catch (err) {
        if (err instanceof GrammyError) opts.onResult?.(err.error_code);
        return toTelegramOutcome(err, attempt);
      }
    },
    async edit(text, platformId, { chatId, attempt, signal }) {
      try {
        const [to, messageId] = messageOf(chatId, platformId);
        await opts.api.editMessageText(to, messageId, text, {
          link_preview_options: { is_disabled: true },
        }, toGrammySignal(signal));
        return { kind: "sent", platformId };
      } catch (err) {
        if (err instanceof GrammyError && err.error_code === 400 && NOT_MODIFIED.test(err.description)) {
          return { kind: "sent", platformId };
        }
        return toTelegramOutcome(err, attempt);
      }
    },
    async remove(platformId, { chatId, attempt, signal }) {
      try {
        const [to, messageId] = messageOf(chatId, platformId);
        await opts.api.deleteMessage(to, messageId, toGrammySignal(signal));
        return { kind: "sent", platformId };
      } catch (err) {
        if (err instanceof GrammyError && err.error_code === 400 && NOT_FOUND.test(err.description)) {
          return { kind: "sent", platformId };
        }
        return toTelegramOutcome(err, attempt);
      }
    },
  };
}
