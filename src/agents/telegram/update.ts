/**
 * The parts of a Telegram `Update` this channel reads, validated with zod at the edge (webhook body, getUpdates
 * result). Objects are loose: Telegram adds fields over time, and unknown update kinds are recorded as ignored.
 *
 * @module
 */
import { z } from "zod";

const user = z.looseObject({
  id: z.number().int(),
  is_bot: z.boolean().optional(),
  first_name: z.string().optional(),
  username: z.string().optional(),
});

const chat = z.looseObject({ id: z.number().int(), type: z.string() });

export const messageSchema = z.looseObject({
  message_id: z.number().int(),
  date: z.number().int(),
  chat,
  from: user.optional(),
  /** The chat a message was sent on behalf of (an anonymous admin's group, a channel); `from` is then a fake user. */
  sender_chat: z.looseObject({ id: z.number().int(), title: z.string().optional() }).optional(),
  text: z.string().optional(),
  caption: z.string().optional(),
  /** A channel's post copied into its linked discussion group by Telegram (from 777000), not a user's message. */
  is_automatic_forward: z.boolean().optional(),
  /** With `is_topic_message`: the forum topic (or private-chat topic) the message was sent in. */
  message_thread_id: z.number().int().optional(),
  is_topic_message: z.boolean().optional(),
  /** In a channel's direct messages chat: the topic of the user who wrote (each user has one). */
  direct_messages_topic: z.looseObject({ topic_id: z.number().int() }).optional(),
  /** Service messages of a group upgraded to a supergroup: in the group, its new id; in the supergroup, the old. */
  migrate_to_chat_id: z.number().int().optional(),
  migrate_from_chat_id: z.number().int().optional(),
});
export type TelegramMessage = z.infer<typeof messageSchema>;

const chatMemberUpdated = z.looseObject({
  chat,
  from: user,
  date: z.number().int(),
  new_chat_member: z.looseObject({ status: z.string() }),
});

export const updateSchema = z.looseObject({
  update_id: z.number().int().nonnegative(),
  message: messageSchema.optional(),
  edited_message: messageSchema.optional(),
  channel_post: messageSchema.optional(),
  edited_channel_post: messageSchema.optional(),
  my_chat_member: chatMemberUpdated.optional(),
});
export type TelegramUpdate = z.infer<typeof updateSchema>;

/** Update kinds we ask Telegram for (setWebhook / getUpdates `allowed_updates`). */
export const ALLOWED_UPDATES = [
  "message",
  "edited_message",
  "channel_post",
  "edited_channel_post",
  "my_chat_member",
] as const;
export type AllowedUpdate = (typeof ALLOWED_UPDATES)[number];

/** Message content kinds that are not text, in the order Telegram documents them. */
const MEDIA_KINDS = [
  "animation",
  "audio",
  "document",
  "paid_media",
  "photo",
  "sticker",
  "story",
  "video",
  "video_note",
  "voice",
  "contact",
  "dice",
  "game",
  "poll",
  "venue",
  "location",
  "invoice",
] as const;

/**
 * Fields of Telegram's service messages (a chat's own events, which bots get in groups whatever their privacy
 * mode): nobody asked anything.
 */
const SERVICE_FIELDS = [
  "new_chat_members",
  "left_chat_member",
  "new_chat_title",
  "new_chat_photo",
  "delete_chat_photo",
  "group_chat_created",
  "supergroup_chat_created",
  "channel_chat_created",
  "message_auto_delete_timer_changed",
  "migrate_to_chat_id",
  "migrate_from_chat_id",
  "pinned_message",
  "successful_payment",
  "refunded_payment",
  "connected_website",
  "write_access_allowed",
  "proximity_alert_triggered",
  "boost_added",
  "chat_background_set",
  "forum_topic_created",
  "forum_topic_edited",
  "forum_topic_closed",
  "forum_topic_reopened",
  "general_forum_topic_hidden",
  "general_forum_topic_unhidden",
  "giveaway_created",
  "giveaway_completed",
  "video_chat_scheduled",
  "video_chat_started",
  "video_chat_ended",
  "video_chat_participants_invited",
  // Bot API 9.x (the "Service message:" fields of @grammyjs/types 5.0's Message).
  "checklist_tasks_done",
  "checklist_tasks_added",
  "community_chat_added",
  "community_chat_removed",
  "community_chat_joined",
  "suggested_post_approved",
  "suggested_post_approval_failed",
  "suggested_post_declined",
  "suggested_post_paid",
  "suggested_post_refunded",
  "chat_owner_left",
  "chat_owner_changed",
  "managed_bot_created",
  "poll_option_added",
  "poll_option_deleted",
  "giveaway_winners",
  "gift",
  "gift_upgrade_sent",
  "unique_gift",
  "paid_message_price_changed",
  "direct_message_price_changed",
] as const;

/**
 * What a message carries: `text`, a media kind (`sticker`, `photo`, …), `service` (joins, pins, … : one of
 * SERVICE_FIELDS) or `other` (a kind this agent does not know, e.g. `web_app_data`: a user did send it).
 */
export function contentKind(m: TelegramMessage): string {
  if (m.text !== undefined) return "text";
  for (const k of MEDIA_KINDS) if (k in m) return k;
  return SERVICE_FIELDS.some((k) => k in m) ? "service" : "other";
}

/**
 * The chat a message belongs to, as this channel keys it: the chat id, or for a message in a forum topic
 * `<chat id>/<message_thread_id>`. Each topic is its own conversation, and its replies go back into it
 * (send.ts `toTarget`). The General topic and reply threads of ordinary groups are the chat itself.
 */
export function chatKeyOf(m: TelegramMessage): string {
  if (m.direct_messages_topic) return `${m.chat.id}/dm${m.direct_messages_topic.topic_id}`;
  const topic = m.is_topic_message === true ? m.message_thread_id : undefined;
  return topic === undefined ? String(m.chat.id) : `${m.chat.id}/${topic}`;
}

const updateIdOnly = z.looseObject({ update_id: z.number().int().nonnegative() });

/**
 * Reads an update. One whose known fields changed shape is kept as `{ update_id, unreadable: true }` so it is
 * recorded as ignored instead of being refused: a refused update would block its chat's later updates at
 * Telegram for 24 hours. Undefined only when there is no update_id at all.
 */
export function readUpdate(body: unknown): TelegramUpdate | undefined {
  const full = updateSchema.safeParse(body);
  if (full.success) return full.data;
  const id = updateIdOnly.safeParse(body);
  return id.success ? { update_id: id.data.update_id, unreadable: true } : undefined;
}
