/**
 * The role tables: one lead per chat (collected fields, score, stage) with its stage history, and the chats
 * handed to a person. A trigger writes the history, so a stage change and its event are one statement.
 *
 * @module
 */
import type { Migration } from "../../../store/migrations.ts";

export const rolesMigration: Migration = {
  version: 51,
  name: "roles: leads, lead events, handoffs",
  statements: [
    `CREATE TABLE leads (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      chat TEXT NOT NULL UNIQUE,
      agent TEXT NOT NULL,
      chat_id TEXT NOT NULL,
      role TEXT NOT NULL,
      name TEXT,
      company TEXT,
      need TEXT,
      budget TEXT,
      timeline TEXT,
      contact TEXT,
      score INTEGER NOT NULL DEFAULT 0,
      stage TEXT NOT NULL DEFAULT 'new' CHECK (stage IN ('new', 'engaged', 'qualified', 'handed_off', 'closed')),
      stage_reason TEXT NOT NULL DEFAULT 'first message',
      turns INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      qualified_at INTEGER
    ) STRICT`,
    "CREATE INDEX leads_updated ON leads (updated_at)",
    `CREATE TABLE lead_events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      lead_id INTEGER NOT NULL,
      from_stage TEXT,
      to_stage TEXT NOT NULL,
      reason TEXT NOT NULL,
      at INTEGER NOT NULL
    ) STRICT`,
    "CREATE INDEX lead_events_lead ON lead_events (lead_id, id)",
    `CREATE TRIGGER leads_created AFTER INSERT ON leads BEGIN
      INSERT INTO lead_events (lead_id, from_stage, to_stage, reason, at)
      VALUES (NEW.id, NULL, NEW.stage, NEW.stage_reason, NEW.created_at);
    END`,
    `CREATE TRIGGER leads_stage_changed AFTER UPDATE OF stage ON leads WHEN OLD.stage <> NEW.stage BEGIN
      INSERT INTO lead_events (lead_id, from_stage, to_stage, reason, at)
      VALUES (NEW.id, OLD.stage, NEW.stage, NEW.stage_reason, NEW.updated_at);
    END`,
    `CREATE TABLE handoffs (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      chat TEXT NOT NULL UNIQUE,
      agent TEXT NOT NULL,
      chat_id TEXT NOT NULL,
      role TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('paused', 'active')),
      reason TEXT NOT NULL,
      operator_agent TEXT NOT NULL,
      operator_chat TEXT NOT NULL,
      started_by INTEGER,
      since INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    ) STRICT`,
    "CREATE INDEX handoffs_operator ON handoffs (operator_agent, operator_chat, state)",
  ],
};
