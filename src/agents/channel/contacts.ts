/**
 * What a channel knows about each chat (table `channel_contacts`, migration 20): the user's last inbound time
 * (it opens WhatsApp's 24-hour window), whether the user blocked us (no more sends until they write again), and when
 * the approved template was last sent (WhatsApp: one per closed window).
 * Writers return statements, so ingress commits them in one batch.
 *
 * @module
 */
import type { Client, InStatement } from "../../store/mod.ts";

export interface Contact {
  chatId: string;
  /** The user's last message (their timestamp, epoch ms), or undefined when they never wrote. */
  lastInboundAt: number | undefined;
  /** When the platform told us the user blocked the bot; undefined while the contact is active. */
  inactiveAt: number | undefined;
  inactiveReason: string | undefined;
  /**
   * When the approved template was last sent to the chat (WhatsApp), or undefined; undefined too when that template's
   * status says `failed` (whichever of the two was stored first), unless it was also delivered or read: Meta's
   * statuses come out of order, and a user who has the template got the window's one.
   */
  templateAt: number | undefined;
}

/**
 * The user wrote at `sentAt`: the last inbound time only moves forward, and a message newer than the block
 * makes the contact active again (the user unblocked us). Platform timestamps have one-second precision, so a
 * message from the second in which the block was seen counts as newer. A message stored already (bus idempotency
 * key `key`) changes nothing: a webhook retried after `aideazz forget` must not bring the contact back.
 */
export function touchInbound(agent: string, chatId: string, sentAt: number, now: number, key?: string): InStatement {
  return {
    sql: `INSERT INTO channel_contacts (agent, chat_id, last_inbound_at, updated_at) SELECT ?1, ?2, ?3, ?4
      WHERE ?5 IS NULL OR NOT EXISTS (SELECT 1 FROM bus_messages WHERE idem_key = ?5)
      ON CONFLICT (agent, chat_id) DO UPDATE SET
        last_inbound_at = max(coalesce(last_inbound_at, 0), excluded.last_inbound_at),
        inactive_at = CASE WHEN inactive_at < excluded.last_inbound_at + 1000 THEN NULL ELSE inactive_at END,
        inactive_reason = CASE WHEN inactive_at < excluded.last_inbound_at + 1000 THEN NULL ELSE inactive_reason END,
        updated_at = excluded.updated_at`,
    args: [agent, chatId, sentAt, now, key ?? null],
  };
}

/** The user blocked us (Telegram 403, `my_chat_member` kicked): nothing more is sent to them. */
export function markInactive(agent: string, chatId: string, reason: string, at: number): InStatement {
  return {
    sql:
      `INSERT INTO channel_contacts (agent, chat_id, inactive_at, inactive_reason, updated_at) VALUES (?1, ?2, ?3, ?4, ?3)
      ON CONFLICT (agent, chat_id) DO UPDATE SET
        inactive_at = coalesce(inactive_at, excluded.inactive_at),
        inactive_reason = coalesce(inactive_reason, excluded.inactive_reason),
        updated_at = excluded.updated_at`,
    args: [agent, chatId, at, reason],
  };
}

/** The approved template was sent to the chat at `at` as message `messageId` (WhatsApp). */
export function recordTemplate(agent: string, chatId: string, at: number, messageId: string): InStatement {
  return {
    sql: `INSERT INTO channel_contacts (agent, chat_id, template_at, template_message_id, updated_at)
      VALUES (?1, ?2, ?3, ?4, ?3)
      ON CONFLICT (agent, chat_id) DO UPDATE SET template_at = excluded.template_at,
        template_message_id = excluded.template_message_id, updated_at = excluded.updated_at
      WHERE excluded.template_at >= coalesce(template_at, 0)`,
    args: [agent, chatId, at, messageId],
  };
}

/**
 * The user unblocked us (Telegram `my_chat_member` back to member): the chat and its topics (`<chat>/<topic>`, a
 * private chat's topics), which replies sent while the block lasted marked with their own 403s. The topics are the
 * keys from `<chat>/` up to `<chat>0` ("0" follows "/"): a range of the primary key, no LIKE pattern to escape.
 */
export function markActive(agent: string, chatId: string, at: number): InStatement {
  return {
    sql: `UPDATE channel_contacts SET inactive_at = NULL, inactive_reason = NULL, updated_at = ?3
      WHERE agent = ?1 AND (chat_id = ?2 OR (chat_id >= ?2 || '/' AND chat_id < ?2 || '0')) AND inactive_at IS NOT NULL`,
    args: [agent, chatId, at],
  };
}

/**
 * The contact whose block stops sends to `chatId`: its own, or for a topic of a private chat (`<user>/<topic>`;
 * users' ids are positive) its user's, which the block (`my_chat_member`) marks and which holds for the topics too.
 */
export async function blockedContact(client: Client, agent: string, chatId: string): Promise<Contact | undefined> {
  const [chat = "", topic] = chatId.split("/");
  const keys = topic !== undefined && /^\d+$/.test(chat) ? [chatId, chat] : [chatId];
  for (const key of keys) {
    const contact = await getContact(client, agent, key);
    if (contact?.inactiveAt !== undefined) return contact;
  }
  return undefined;
}

const optNum = (v: unknown) => (v === null || v === undefined ? undefined : Number(v));

export async function getContact(
  client: Client,
  agent: string,
  chatId: string,
): Promise<Contact | undefined> {
  const rs = await client.execute({
    sql:
      `SELECT c.last_inbound_at, c.inactive_at, c.inactive_reason,
        iif(d.status = 'failed' AND d.delivered_at IS NULL, NULL, c.template_at) AS template_at
      FROM channel_contacts c
      LEFT JOIN channel_deliveries d ON d.agent = c.agent AND d.message_id = c.template_message_id
      WHERE c.agent = ?1 AND c.chat_id = ?2 LIMIT 1`,
    args: [agent, chatId],
  });
  const row = rs.rows[0];
  if (!row) return undefined;
  const reason = row["inactive_reason"];
  return {
    chatId,
    lastInboundAt: optNum(row["last_inbound_at"]),
    inactiveAt: optNum(row["inactive_at"]),
    inactiveReason: reason === null || reason === undefined ? undefined : String(reason),
    templateAt: optNum(row["template_at"]),
  };
}
