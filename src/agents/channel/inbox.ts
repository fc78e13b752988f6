/**
 * The chat inbox (table `chat_inbox`, migration 60): one row per inbound message a channel stored for the
 * orchestrator, in the order the channel stored them, with what became of it — `pending` until a turn answers
 * it, then `answered` with the reply key of the turn that did (several messages of a burst share one), or
 * `silent` (no bot answer: a paused chat, a rate-limit silence). The bus hands the orchestrator one message of a
 * chat at a time, so this table is how it sees the rest of a burst; the channel reads it to know whether a turn
 * is still in flight (typing indicator).
 *
 * Ingress writes the row and its bus id in the transaction of the bus publish (the row before the message, so the
 * orchestrator always finds it). Both are idempotent: a redelivered webhook changes nothing.
 *
 * @module
 */
import type { InboundMessage } from "../../bus/envelopes.ts";
import type { Client, InStatement } from "../../store/mod.ts";

/** Records a stored inbound message (a redelivery keeps the first row). For the ingress rows batch. */
export function inboxInsert(m: InboundMessage): InStatement {
  return {
    sql:
      `INSERT INTO chat_inbox (agent, platform_id, chat_id, kind, text, received_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (agent, platform_id) DO NOTHING`,
    args: [m.agent, m.platformId, m.chatId, m.kind, m.text, m.receivedAt],
  };
}

/**
 * Links a row to the bus message it was published as (the orchestrator lists bus ids in `inReplyTo`), by the
 * message's idempotency key: it runs in the publish's own transaction, after the INSERT.
 */
export function inboxBusId(agent: string, platformId: string, idempotencyKey: string): InStatement {
  return {
    sql: `UPDATE chat_inbox SET bus_id = (SELECT id FROM bus_messages WHERE idem_key = ?)
      WHERE agent = ? AND platform_id = ? AND bus_id IS NULL`,
    args: [idempotencyKey, agent, platformId],
  };
}

/**
 * True while a message of the chat stored after `since` (epoch ms) waits for its turn: the typing indicator stays
 * on. False once every such message is answered or silenced (a chat paused for a person stops "typing…").
 */
export async function turnPending(
  client: Client,
  agent: string,
  chatId: string,
  since: number,
): Promise<boolean> {
  const rs = await client.execute({
    sql: `SELECT 1 FROM chat_inbox WHERE agent = ? AND chat_id = ? AND state = 'pending' AND received_at >= ?
      LIMIT 1`,
    args: [agent, chatId, since],
  });
  return rs.rows.length > 0;
}
