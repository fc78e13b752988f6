/**
 * The chat inbox (table `chat_inbox`, migration 60): one row per inbound message a channel stored for the
 * orchestrator, in the order the channel stored them (a caption with the media it came with: migration 77), with
 * what became of it — `pending` until a turn answers it, then `answered` with the reply key of the turn that did
 * (several messages of a burst share one; a photo followed by its user's text has the text's), or `silent` (no bot
 * answer: a paused chat, a rate-limit silence). The bus hands the orchestrator one message of a chat at a time, so
 * this table is how it sees the rest of a burst; the channel reads it to know whether a turn is still in flight
 * (typing indicator).
 *
 * Ingress writes the row with its bus id in the transaction of the bus publish, so the orchestrator always finds
 * it. A redelivered webhook changes nothing, and neither does a resend after retention purged the row: the bus drops
 * it as a duplicate, so it gets no row either (no turn would answer it).
 *
 * @module
 */
import type { InboundMessage } from "../../bus/envelopes.ts";
import type { Client, InStatement } from "../../store/mod.ts";
import { ORCHESTRATOR_GROUP } from "./spine.ts";

/**
 * Records stored inbound messages in their order, each with the id of the bus message it was published as (the
 * orchestrator lists bus ids in `inReplyTo`): one statement for all of them, run in the publish's own
 * transaction, after its INSERT. Only the messages that INSERT stored get a row: the bus message is found by its
 * idempotency key AND the trace id this publish gave it, which a duplicate's older message does not carry (its
 * row may have been purged by retention, and must not come back `pending` with the user's text). A redelivery
 * keeps the first row.
 */
export function inboxInsert(
  entries: readonly { message: InboundMessage; idempotencyKey: string; traceId: string }[],
): InStatement {
  const rows = entries.map(({ message: m, idempotencyKey, traceId }) => [
    m.agent,
    m.platformId,
    m.chatId,
    m.kind,
    // Well-formed: SQLite decodes a lone surrogate's JSON escape into bytes that are not UTF-8, and the client
    // reading them back fails. Bound as an argument, it became U+FFFD, as here. (Ids and keys come from the
    // platforms or are UUIDs; only the text is the user's.)
    m.text.toWellFormed(),
    m.receivedAt,
    idempotencyKey,
    m.userId,
    m.attachment ?? null,
    traceId,
  ]);
  // CROSS JOIN keeps json_each outside: one lookup on the idem_key index per row.
  return {
    sql: `INSERT INTO chat_inbox (agent, platform_id, chat_id, kind, text, received_at, bus_id, user_id, attachment)
      SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5, m.id,
        j.value ->> 7, j.value ->> 8
      FROM json_each(?1) AS j CROSS JOIN bus_messages AS m ON m.idem_key = j.value ->> 6 AND m.trace_id = j.value ->> 9
      WHERE true ORDER BY j.key
      ON CONFLICT (agent, platform_id) DO UPDATE SET bus_id = excluded.bus_id WHERE chat_inbox.bus_id IS NULL`,
    args: [JSON.stringify(rows)],
  };
}

/**
 * True while a message of the chat stored after `since` (epoch ms) waits for its turn: the typing indicator stays
 * on. False once every such message is answered, silenced (a chat paused for a person stops "typing…") or
 * dead-lettered (the bot gave up; an operator's `bus dlq retry` makes it wait again).
 */
export async function turnPending(
  client: Client,
  agent: string,
  chatId: string,
  since: number,
): Promise<boolean> {
  const rs = await client.execute({
    sql: `SELECT 1 FROM chat_inbox i WHERE agent = ? AND chat_id = ? AND state = 'pending' AND received_at >= ?
        AND NOT EXISTS (SELECT 1 FROM bus_dead_letters WHERE msg_id = i.bus_id AND grp = ?)
      LIMIT 1`,
    args: [agent, chatId, since, ORCHESTRATOR_GROUP],
  });
  return rs.rows.length > 0;
}
