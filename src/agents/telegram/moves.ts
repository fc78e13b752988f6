/**
 * Groups Telegram upgraded to supergroups (table `telegram_chat_moves`, migration 75). The group's id stops working
 * (a send answers 400 with `migrate_to_chat_id`) and its messages come with the supergroup's id from then on.
 * Recorded from that answer and from the upgrade's service messages; the orchestrator reads it for an operator
 * chat the config still names by the group's id.
 *
 * @module
 */
import type { Client, InStatement } from "../../store/mod.ts";

/** Group `from` is now supergroup `to` (chat ids are Telegram's, the same for every bot). */
export function recordChatMove(from: string, to: string): InStatement {
  return {
    sql: `INSERT INTO telegram_chat_moves (from_chat, to_chat) VALUES (?1, ?2)
      ON CONFLICT (from_chat) DO UPDATE SET to_chat = excluded.to_chat`,
    args: [from, to],
  };
}

/** The supergroup group `chatId` became, or undefined when it did not move. */
export async function movedChat(client: Client, chatId: string): Promise<string | undefined> {
  const rs = await client.execute({
    sql: "SELECT to_chat FROM telegram_chat_moves WHERE from_chat = ?",
    args: [chatId],
  });
  const to = rs.rows[0]?.["to_chat"];
  return to === undefined || to === null ? undefined : String(to);
}
