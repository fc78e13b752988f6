/**
 * The orchestrator's tables: conversation turns (the assistant turn carries the inbound message id, so a
 * redelivered message finds the answer it already got instead of asking a model again), routing decisions,
 * the reply cache with its sampled checks, and per-user abuse counters.
 *
 * @module
 */
import type { Migration } from "../../store/migrations.ts";

export const orchestratorMigration: Migration = {
  version: 50,
  name: "orchestrator: conversations, decisions, cache, abuse counters",
  statements: [
    `CREATE TABLE conversation_turns (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      chat TEXT NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
      text TEXT NOT NULL,
      at INTEGER NOT NULL,
      inbound_id INTEGER
    ) STRICT`,
    "CREATE INDEX conversation_turns_chat ON conversation_turns (chat, id)",
    "CREATE INDEX conversation_turns_at ON conversation_turns (at)",
    "CREATE UNIQUE INDEX conversation_turns_answer ON conversation_turns (inbound_id) WHERE role = 'assistant'",
    `CREATE TABLE router_decisions (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      inbound_id INTEGER,
      trace_id TEXT,
      agent TEXT NOT NULL,
      at INTEGER NOT NULL,
      tier TEXT NOT NULL,
      source TEXT NOT NULL,
      provider TEXT,
      model TEXT,
      reason TEXT NOT NULL,
      latency_ms REAL NOT NULL,
      input_tokens INTEGER NOT NULL DEFAULT 0,
      output_tokens INTEGER NOT NULL DEFAULT 0,
      cost_usd REAL NOT NULL DEFAULT 0,
      cache_hit INTEGER NOT NULL DEFAULT 0
    ) STRICT`,
    "CREATE INDEX router_decisions_at ON router_decisions (at)",
    `CREATE TABLE cache_entries (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      key TEXT NOT NULL UNIQUE,
      scope TEXT NOT NULL,
      prompt TEXT NOT NULL,
      answer TEXT NOT NULL,
      answer_group TEXT NOT NULL,
      provider TEXT NOT NULL,
      model TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      embedding BLOB
    ) STRICT`,
    "CREATE INDEX cache_entries_scope ON cache_entries (scope, id)",
    `CREATE TABLE cache_checks (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      entry_id INTEGER NOT NULL,
      agreed INTEGER NOT NULL,
      at INTEGER NOT NULL
    ) STRICT`,
    `CREATE TABLE user_usage (
      user_key TEXT NOT NULL,
      day TEXT NOT NULL,
      minute INTEGER NOT NULL,
      minute_count INTEGER NOT NULL,
      tokens INTEGER NOT NULL,
      notified_minute INTEGER NOT NULL DEFAULT -1,
      PRIMARY KEY (user_key, day)
    ) STRICT`,
  ],
};

/**
 * Abuse limits over a sliding minute (limits.ts): the per-minute count moves to `user_rate`, one row per user with
 * this minute's and the previous minute's counts; `user_tokens` keeps the model tokens per user and UTC day.
 */
export const abuseLimitsMigration: Migration = {
  version: 62,
  name: "orchestrator: abuse limits over a sliding minute",
  statements: [
    `CREATE TABLE user_rate (
      user_key TEXT PRIMARY KEY,
      minute INTEGER NOT NULL,
      count INTEGER NOT NULL,
      prev_count INTEGER NOT NULL,
      notified_at INTEGER NOT NULL DEFAULT 0
    ) STRICT`,
    `CREATE TABLE user_tokens (
      user_key TEXT NOT NULL,
      day TEXT NOT NULL,
      tokens INTEGER NOT NULL,
      PRIMARY KEY (user_key, day)
    ) STRICT`,
    "INSERT INTO user_tokens (user_key, day, tokens) SELECT user_key, day, tokens FROM user_usage WHERE tokens > 0",
    "DROP TABLE user_usage",
  ],
};
