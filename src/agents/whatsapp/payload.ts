/**
 * The WhatsApp Cloud API webhook payload (`object: "whatsapp_business_account"`), validated with zod. The
 * envelope is strict about what we need (entry → changes → value.metadata.phone_number_id); messages and
 * statuses are read one by one, so a single message in a shape we do not know is recorded as ignored instead
 * of refusing a batch Meta would then retry for 7 days.
 *
 * @module
 */
import { z } from "zod";

const digits = z.string().regex(/^\d+$/);

/**
 * A user's business-scoped user id (BSUID: `US.13491208655302741918`, `US.ENT.…` for a parent one): Meta's id of a
 * user for this business, sent with every message since April 2026. A user who set a WhatsApp username may have
 * no phone number in a webhook, only this id; a reply to them goes to it (`recipient` instead of `to`).
 */
export const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

export const messageSchema = z.looseObject({
  /** The user's phone number, when Meta shares it (not for a user with a username, unless in the contact book). */
  from: z.string().min(1).optional(),
  /** The user's BSUID. */
  from_user_id: z.string().regex(BSUID).optional(),
  id: z.string().min(1),
  timestamp: digits,
  type: z.string(),
  text: z.looseObject({ body: z.string() }).optional(),
  interactive: z.looseObject({
    type: z.string(),
    button_reply: z.looseObject({ id: z.string(), title: z.string() }).optional(),
    list_reply: z.looseObject({ id: z.string(), title: z.string(), description: z.string().optional() })
      .optional(),
  }).optional(),
  button: z.looseObject({ text: z.string(), payload: z.string().optional() }).optional(),
  image: z.looseObject({ caption: z.string().optional() }).optional(),
  video: z.looseObject({ caption: z.string().optional() }).optional(),
  document: z.looseObject({ caption: z.string().optional() }).optional(),
  /** A catalogue order, with what the user wrote along with it. */
  order: z.looseObject({ text: z.string().optional() }).optional(),
  /**
   * `type: "unsupported"`: what Meta could not pass on (a view-once photo, a poll, …, and a user's actions on the
   * chat: `reaction`, `poll_update` for a vote, `pin`, `keep_in_chat`).
   */
  unsupported: z.looseObject({ type: z.string().optional() }).optional(),
  /** Why Meta could not pass the message on (read with `errorSchema`): 131051 unsupported, 131060 unavailable. */
  errors: z.array(z.unknown()).optional(),
}).refine((m) => m.from !== undefined || m.from_user_id !== undefined, "a message names its sender");
export type WaMessage = z.infer<typeof messageSchema>;

/** A message's chat: the user's phone number when Meta gives it, else their BSUID. */
export function senderOf(m: WaMessage): string {
  return m.from ?? m.from_user_id!;
}

export const errorSchema = z.looseObject({
  code: z.number().int(),
  title: z.string().optional(),
  message: z.string().optional(),
  error_data: z.looseObject({ details: z.string().optional() }).optional(),
});
export type WaError = z.infer<typeof errorSchema>;

export const statusSchema = z.looseObject({
  id: z.string().min(1),
  status: z.string(),
  timestamp: digits,
  /** The user's phone number, when Meta shares it. */
  recipient_id: z.string().min(1).optional(),
  /** The user's BSUID. */
  recipient_user_id: z.string().regex(BSUID).optional(),
  /** The send-ledger key we sent the message with (`biz_opaque_callback_data`, echoed by Graph). */
  biz_opaque_callback_data: z.string().optional(),
  errors: z.array(errorSchema).optional(),
}).refine((st) => st.recipient_id !== undefined || st.recipient_user_id !== undefined, "a status names its recipient");
export type WaStatus = z.infer<typeof statusSchema>;

/** A status's chat, read as a message's is (phone number, else BSUID). */
export function recipientOf(st: WaStatus): string {
  return st.recipient_id ?? st.recipient_user_id!;
}

/** One entry of `contacts`: the user's profile name under their phone number and their BSUID. */
export const contactSchema = z.looseObject({
  wa_id: z.string().min(1).optional(),
  user_id: z.string().min(1).optional(),
  profile: z.looseObject({ name: z.string().optional() }).optional(),
});

export const valueSchema = z.looseObject({
  metadata: z.looseObject({ phone_number_id: z.string(), display_phone_number: z.string().optional() }),
  /** Read entry by entry (`contactSchema`): a contact we cannot read costs its name, never the change's messages. */
  contacts: z.array(z.unknown()).optional(),
  messages: z.array(z.unknown()).optional(),
  statuses: z.array(z.unknown()).optional(),
  /** Errors of the whole change, tied to no message or status (e.g. 130429: too many messages from this number). */
  errors: z.array(z.unknown()).optional(),
});
export type WaValue = z.infer<typeof valueSchema>;

export const webhookSchema = z.looseObject({
  object: z.string(),
  entry: z.array(z.looseObject({
    id: z.string(),
    changes: z.array(z.looseObject({ field: z.string(), value: z.unknown() })),
  })),
});
export type WaWebhook = z.infer<typeof webhookSchema>;
