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

export const messageSchema = z.looseObject({
  from: z.string().min(1),
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
});
export type WaMessage = z.infer<typeof messageSchema>;

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
  recipient_id: z.string(),
  /** The send-ledger key we sent the message with (`biz_opaque_callback_data`, echoed by Graph). */
  biz_opaque_callback_data: z.string().optional(),
  errors: z.array(errorSchema).optional(),
});
export type WaStatus = z.infer<typeof statusSchema>;

export const valueSchema = z.looseObject({
  metadata: z.looseObject({ phone_number_id: z.string(), display_phone_number: z.string().optional() }),
  contacts: z.array(
    z.looseObject({ wa_id: z.string(), profile: z.looseObject({ name: z.string().optional() }).optional() }),
  )
    .optional(),
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
