/**
 * The chat inbox table (see inbox.ts): one row per inbound message a channel stored, in storing order (`seq`),
 * with its state and the reply key of the turn that answered it. Unique per (agent, platform id), like the
 * message's idempotency key, so a redelivered webhook adds nothing.
 *
 * @module
 */
import type { Migration } from "../../store/migrations.ts";

export const inboxMigration: Migration = {
  version: 60,
  name: "experience: chat inbox (bursts, which reply answered which messages)",
  statements: [
    `CREATE TABLE chat_inbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      agent TEXT NOT NULL,
      platform_id TEXT NOT NULL,
      chat_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      text TEXT NOT NULL,
      received_at INTEGER NOT NULL,
      bus_id INTEGER,
      state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'answered', 'silent')),
      reply_key TEXT,
      answered_at INTEGER,
      UNIQUE (agent, platform_id)
    ) STRICT`,
    "CREATE INDEX chat_inbox_chat ON chat_inbox (agent, chat_id, state, seq)",
    "CREATE INDEX chat_inbox_reply ON chat_inbox (reply_key) WHERE reply_key IS NOT NULL",
    "CREATE INDEX chat_inbox_received ON chat_inbox (received_at)",
  ],
};
