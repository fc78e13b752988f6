/**
 * The database schema as an ordered list of migrations. Append only: a released migration never changes.
 * Each folder's tables are created by its own entry; all SQL here stays portable to a libSQL server.
 *
 * @module
 */
import { abuseLimitsMigration, orchestratorMigration } from "../agents/orchestrator/schema.ts";
import { rolesMigration } from "../agents/orchestrator/roles/schema.ts";
import { inboxMigration } from "../agents/channel/inbox-schema.ts";

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "agents",
    statements: [
      `CREATE TABLE agent_heartbeats (
        agent TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        version TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        seen_at INTEGER NOT NULL
      ) STRICT`,
    ],
  },
  {
    // The bus (src/bus/sqlite.ts). A message is written once; a trigger fans it out to one delivery row per
    // subscribed group, in the publishing statement. Deliveries are clustered by (group, message id), i.e. in
    // publish order, so claims and acks touch the few pages at the old end and publishes the few at the new
    // end (clustering by key scattered every batch over one page per key: measured 0.6 dirty pages per
    // message and claim). Per-key order is a linked list: `next_id` points to the key's next delivery and
    // `bus_keys` holds each key's tail. `head` marks the one delivery per (topic, group, key) that may be
    // handed out; `due_at` is when (visible time when ready, lease end when leased), so one small partial
    // index over heads answers "what can I claim now", expired leases included. An ack deletes the delivery
    // and promotes `next_id`. `refs` counts a message's deliveries and dead letters: an unkeyed message goes
    // with its last one; keyed ones stay for the dedup window (retention purges them).
    version: 2,
    name: "bus",
    statements: [
      `CREATE TABLE bus_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        okey TEXT NOT NULL,
        payload TEXT NOT NULL,
        idem_key TEXT UNIQUE,
        trace_id TEXT,
        published_at INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        refs INTEGER NOT NULL DEFAULT 0
      ) STRICT`,
      "CREATE INDEX bus_messages_keyed ON bus_messages (published_at) WHERE idem_key IS NOT NULL",
      `CREATE TABLE bus_subscriptions (
        topic TEXT NOT NULL,
        grp TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (topic, grp)
      ) STRICT, WITHOUT ROWID`,
      `CREATE TABLE bus_deliveries (
        grp TEXT NOT NULL,
        msg_id INTEGER NOT NULL,
        topic TEXT NOT NULL,
        okey TEXT NOT NULL,
        next_id INTEGER,
        head INTEGER NOT NULL,
        state INTEGER NOT NULL DEFAULT 0,
        due_at INTEGER NOT NULL,
        fence INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        consumer TEXT,
        PRIMARY KEY (grp, msg_id)
      ) STRICT, WITHOUT ROWID`,
      "CREATE INDEX bus_deliveries_due ON bus_deliveries (topic, grp, due_at) WHERE head = 1",
      `CREATE TABLE bus_keys (
        topic TEXT NOT NULL,
        grp TEXT NOT NULL,
        okey TEXT NOT NULL,
        tail_id INTEGER NOT NULL,
        PRIMARY KEY (topic, grp, okey)
      ) STRICT, WITHOUT ROWID`,
      `CREATE TABLE bus_dead_letters (
        msg_id INTEGER NOT NULL,
        grp TEXT NOT NULL,
        topic TEXT NOT NULL,
        okey TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT NOT NULL,
        dead_at INTEGER NOT NULL,
        PRIMARY KEY (msg_id, grp)
      ) STRICT, WITHOUT ROWID`,
      "CREATE INDEX bus_dead_letters_at ON bus_dead_letters (dead_at)",
      // Fan-out; a message nobody subscribes to and nobody can ask about again (no key) is not kept.
      `CREATE TRIGGER bus_messages_fanout AFTER INSERT ON bus_messages BEGIN
        INSERT INTO bus_deliveries (grp, msg_id, topic, okey, head, due_at)
        SELECT s.grp, NEW.id, NEW.topic, NEW.okey,
          NOT EXISTS (SELECT 1 FROM bus_keys k WHERE k.topic = NEW.topic AND k.grp = s.grp AND k.okey = NEW.okey),
          NEW.visible_at
        FROM bus_subscriptions s WHERE s.topic = NEW.topic;
        DELETE FROM bus_messages WHERE id = NEW.id AND NEW.idem_key IS NULL
          AND NOT EXISTS (SELECT 1 FROM bus_subscriptions WHERE topic = NEW.topic);
      END`,
      // A new delivery goes behind its key's tail.
      `CREATE TRIGGER bus_deliveries_added AFTER INSERT ON bus_deliveries BEGIN
        UPDATE bus_deliveries SET next_id = NEW.msg_id WHERE grp = NEW.grp AND msg_id = (
          SELECT tail_id FROM bus_keys WHERE topic = NEW.topic AND grp = NEW.grp AND okey = NEW.okey);
        INSERT INTO bus_keys (topic, grp, okey, tail_id) VALUES (NEW.topic, NEW.grp, NEW.okey, NEW.msg_id)
          ON CONFLICT DO UPDATE SET tail_id = excluded.tail_id;
        UPDATE bus_messages SET refs = refs + 1 WHERE id = NEW.msg_id;
      END`,
      // Only heads are deleted (acked or dead-lettered under their lease): the next one becomes head.
      `CREATE TRIGGER bus_deliveries_done AFTER DELETE ON bus_deliveries BEGIN
        UPDATE bus_deliveries SET head = 1 WHERE OLD.next_id IS NOT NULL AND grp = OLD.grp AND msg_id = OLD.next_id;
        DELETE FROM bus_keys WHERE OLD.next_id IS NULL AND topic = OLD.topic AND grp = OLD.grp AND okey = OLD.okey;
        DELETE FROM bus_messages WHERE id = OLD.msg_id AND refs <= 1 AND idem_key IS NULL;
        UPDATE bus_messages SET refs = refs - 1 WHERE id = OLD.msg_id;
      END`,
      `CREATE TRIGGER bus_dead_letters_added AFTER INSERT ON bus_dead_letters BEGIN
        UPDATE bus_messages SET refs = refs + 1 WHERE id = NEW.msg_id;
      END`,
      `CREATE TRIGGER bus_dead_letters_done AFTER DELETE ON bus_dead_letters BEGIN
        DELETE FROM bus_messages WHERE id = OLD.msg_id AND refs <= 1 AND idem_key IS NULL;
        UPDATE bus_messages SET refs = refs - 1 WHERE id = OLD.msg_id;
      END`,
      // The send ledger (src/bus/ledger.ts): one row per reply, so a redelivered reply is never sent twice.
      `CREATE TABLE bus_send_ledger (
        reply_key TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        fence INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        platform_id TEXT,
        last_error TEXT,
        started_at INTEGER NOT NULL,
        finished_at INTEGER
      ) STRICT, WITHOUT ROWID`,
      "CREATE INDEX bus_send_ledger_started ON bus_send_ledger (started_at)",
    ],
  },
  {
    // The router's proactive quotas and budget (src/router/quota.ts, src/router/budget.ts). One quota row per
    // provider and model holds all four token buckets, so one UPDATE checks and takes them atomically.
    version: 10,
    name: "router quotas and budget",
    statements: [
      `CREATE TABLE router_quota (
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        blocked_until INTEGER NOT NULL DEFAULT 0,
        rpm_limit REAL,
        rpm_avail REAL,
        rpd_limit REAL,
        rpd_avail REAL,
        tpm_limit REAL,
        tpm_avail REAL,
        tpd_limit REAL,
        tpd_avail REAL,
        PRIMARY KEY (provider, model)
      ) STRICT`,
      `CREATE TABLE router_budget_days (
        day TEXT PRIMARY KEY,
        month TEXT NOT NULL,
        spent_micros INTEGER NOT NULL DEFAULT 0,
        reserved_micros INTEGER NOT NULL DEFAULT 0
      ) STRICT`,
      "CREATE INDEX router_budget_days_month ON router_budget_days (month)",
    ],
  },
  {
    // Channel agents (src/agents/channel, telegram, whatsapp, webchat). Contacts hold what egress must know
    // before a send: the user's last inbound time (WhatsApp's 24-hour window) and whether the user blocked us.
    // Skipped inputs (stale after an outage, ignored kinds) are recorded, never answered. Delivery states of our
    // own messages only move forward (sent < delivered < read; failed is final). Web chat replies are the
    // "sent" messages of the web chat: the page polls them by sequence number.
    version: 20,
    name: "channel contacts, skipped inputs, delivery states, web chat replies",
    statements: [
      `CREATE TABLE channel_contacts (
        agent TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        last_inbound_at INTEGER,
        inactive_at INTEGER,
        inactive_reason TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (agent, chat_id)
      ) STRICT, WITHOUT ROWID`,
      `CREATE TABLE channel_skipped (
        agent TEXT NOT NULL,
        platform_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        PRIMARY KEY (agent, platform_id)
      ) STRICT, WITHOUT ROWID`,
      "CREATE INDEX channel_skipped_recorded ON channel_skipped (recorded_at)",
      `CREATE TABLE channel_deliveries (
        agent TEXT NOT NULL,
        message_id TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        reply_key TEXT,
        status TEXT NOT NULL,
        rank INTEGER NOT NULL,
        status_at INTEGER NOT NULL,
        error_code INTEGER,
        error_title TEXT,
        error_detail TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (agent, message_id)
      ) STRICT, WITHOUT ROWID`,
      "CREATE INDEX channel_deliveries_updated ON channel_deliveries (updated_at)",
      `CREATE TABLE webchat_replies (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        session_id TEXT NOT NULL,
        reply_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT`,
      "CREATE INDEX webchat_replies_session ON webchat_replies (agent, session_id, seq)",
    ],
  },
  {
    // Observability (src/metrics/store-sql.ts explains the shapes). Samples are keyed by (resolution, bucket
    // start, series) WITHOUT ROWID: time-window reads and retention deletes are primary-key range scans.
    version: 30,
    name: "metrics",
    statements: [
      `CREATE TABLE metric_families (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        help TEXT NOT NULL,
        bounds TEXT
      ) STRICT`,
      `CREATE TABLE metric_series (
        id INTEGER PRIMARY KEY,
        agent TEXT NOT NULL,
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        last_at INTEGER NOT NULL,
        UNIQUE (agent, name, labels)
      ) STRICT`,
      `CREATE TABLE metric_samples (
        res INTEGER NOT NULL,
        start INTEGER NOT NULL,
        series INTEGER NOT NULL,
        value REAL NOT NULL,
        vsum REAL,
        n INTEGER,
        vmin REAL,
        vmax REAL,
        b0 INTEGER, b1 INTEGER, b2 INTEGER, b3 INTEGER, b4 INTEGER, b5 INTEGER, b6 INTEGER, b7 INTEGER, b8 INTEGER, b9 INTEGER, b10 INTEGER, b11 INTEGER, b12 INTEGER, b13 INTEGER, b14 INTEGER, b15 INTEGER, b16 INTEGER, b17 INTEGER, b18 INTEGER, b19 INTEGER, b20 INTEGER,
        PRIMARY KEY (res, start, series)
      ) STRICT, WITHOUT ROWID`,
    ],
  },
  {
    // Trace events (src/trace/): one row per stage of a message's trip; `seq` orders events of one process
    // that share a millisecond.
    version: 31,
    name: "traces",
    statements: [
      `CREATE TABLE trace_events (
        id INTEGER PRIMARY KEY,
        trace_id TEXT NOT NULL,
        agent TEXT NOT NULL,
        stage TEXT NOT NULL,
        at INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        duration_ms REAL,
        chat TEXT,
        detail TEXT
      ) STRICT`,
      "CREATE INDEX trace_events_trace ON trace_events (trace_id, at)",
      "CREATE INDEX trace_events_at ON trace_events (at)",
      "CREATE INDEX trace_events_chat ON trace_events (chat, at) WHERE chat IS NOT NULL",
    ],
  },
  {
    // Operations (src/ops/): every restart the health job did, with its reason (flap protection reads it back;
    // `stats` shows it), and the last health report (its upsert is the health job's "database writable" probe).
    version: 40,
    name: "ops restarts and health",
    statements: [
      `CREATE TABLE restarts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        unit TEXT NOT NULL,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('failure', 'recycle')),
        reason TEXT NOT NULL,
        action TEXT NOT NULL,
        ok INTEGER NOT NULL,
        detail TEXT
      ) STRICT`,
      "CREATE INDEX restarts_target_at ON restarts (target, at)",
      `CREATE TABLE health_last (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at INTEGER NOT NULL,
        status TEXT NOT NULL,
        report TEXT NOT NULL
      ) STRICT`,
    ],
  },
  orchestratorMigration,
  rolesMigration,
  inboxMigration,
  {
    // The bus: a handler's last write rides on its delivery's ack (Delivery.ackWith); when it must commit only
    // under its lease, an INSERT of NULL into this table fails it once the lease was lost (src/bus/sqlite-sql.ts).
    version: 61,
    name: "bus lease guard",
    statements: ["CREATE TABLE bus_lease_guard (held INTEGER NOT NULL) STRICT"],
  },
  abuseLimitsMigration,
  {
    // When an agent stopped cleanly (NULL while it runs): `aideazz stats` and the dashboard say "stopped".
    version: 63,
    name: "agent heartbeats: stopped_at",
    statements: ["ALTER TABLE agent_heartbeats ADD COLUMN stopped_at INTEGER"],
  },
  {
    // Whether an intent was a partial reply's post (src/agents/channel/progressive.ts): a streamed final reply
    // sends its part again after an unknown outcome only when that outcome was a partial's.
    version: 64,
    name: "send ledger: intents of partial replies",
    statements: ["ALTER TABLE bus_send_ledger ADD COLUMN partial INTEGER NOT NULL DEFAULT 0"],
  },
  {
    // The orchestrator's hourly retention (conversation.retentionDays) finds old rows by age, not by a table scan
    // under the write lock.
    version: 65,
    name: "retention: web chat replies and cache entries by age",
    statements: [
      "CREATE INDEX webchat_replies_created ON webchat_replies (created_at)",
      "CREATE INDEX cache_entries_created ON cache_entries (created_at)",
    ],
  },
  {
    // A WhatsApp send whose outcome is unknown is settled by the status webhook naming its send-ledger key
    // (src/agents/whatsapp/statuses.ts).
    version: 66,
    name: "delivery states by reply key",
    statements: [
      "CREATE INDEX channel_deliveries_reply ON channel_deliveries (agent, reply_key) WHERE reply_key IS NOT NULL",
    ],
  },
  {
    // `aideazz trace chat:` reads a chat's `received` events (the only ones with a chat) newest first, through an
    // index in time order. The index by chat put each message's event on a random page of it: a batch of 400 events
    // took 2.7 ms to insert with it and 1.5 ms with this one, and the lookup, which scanned the table, 9 ms instead of
    // 33 over 220,000 events (2026-11-29).
    version: 67,
    name: "traces: received events by time",
    statements: [
      "DROP INDEX trace_events_chat",
      "CREATE INDEX trace_events_received ON trace_events (at, chat) WHERE chat IS NOT NULL",
    ],
  },
  {
    // The cache no longer stores a prompt of several lines (a burst, or a question followed by instructions to the
    // model: one user's steered answer served to others, src/router/cache.ts); those stored before go.
    version: 68,
    name: "cache: no prompts of several lines",
    statements: ["DELETE FROM cache_entries WHERE instr(trim(prompt, char(32, 9, 10, 13)), char(10)) > 0"],
  },
  {
    // When a WhatsApp agent last sent its approved template to the chat: one template per closed window
    // (src/agents/whatsapp/send.ts).
    version: 69,
    name: "contacts: last template sent",
    statements: ["ALTER TABLE channel_contacts ADD COLUMN template_at INTEGER"],
  },
  {
    // The template's wamid: a template whose status says `failed` does not count (src/agents/channel/contacts.ts).
    version: 70,
    name: "contacts: the last template's message id",
    statements: ["ALTER TABLE channel_contacts ADD COLUMN template_message_id TEXT"],
  },
  {
    // Who sent each stored message: in a group a burst is one user's messages (src/agents/orchestrator/experience/
    // burst.ts). NULL for rows stored before.
    version: 71,
    name: "chat inbox: the sender",
    statements: ["ALTER TABLE chat_inbox ADD COLUMN user_id TEXT"],
  },
  {
    // Meta's statuses come out of order and a `failed` one outranks them: when a `delivered` or `read` status came
    // too, before or after it, the user has the message and it is not sent again (src/agents/whatsapp/resend.ts).
    version: 72,
    name: "delivery states: when delivered",
    statements: ["ALTER TABLE channel_deliveries ADD COLUMN delivered_at INTEGER"],
  },
  {
    // A dead letter keeps its delivery's fence, and a retried one starts from it (src/bus/sqlite-sql.ts DEAD_REQUEUE):
    // a fence numbered again from 0 would make a lease lost before it died valid again.
    version: 73,
    name: "dead letters: the fence",
    statements: ["ALTER TABLE bus_dead_letters ADD COLUMN fence INTEGER NOT NULL DEFAULT 0"],
  },
  {
    // The limits the config gave each quota row (src/router/quota.ts): a window the config no longer limits drops
    // the limit it had from it, and a limit the provider reports is capped by the configured one in every process.
    version: 74,
    name: "router quotas: the configured limits",
    statements: ["rpm", "rpd", "tpm", "tpd"].map((d) => `ALTER TABLE router_quota ADD COLUMN ${d}_cfg REAL`),
  },
  {
    // Telegram groups upgraded to supergroups (src/agents/telegram/moves.ts): an operator chat the config still names
    // by the group's id is the supergroup's.
    version: 75,
    name: "telegram: groups moved to supergroups",
    statements: [
      `CREATE TABLE telegram_chat_moves (
        from_chat TEXT PRIMARY KEY,
        to_chat TEXT NOT NULL
      ) STRICT, WITHOUT ROWID`,
    ],
  },
  {
    // Migration 62 dropped the per-user limits table of the releases before 2026-11-28, which write it on every
    // message: put back empty, so such a release still runs on this schema during a rolling restart or a rollback
    // (README "Updating"). Nothing of this release reads it.
    version: 76,
    name: "orchestrator: the previous per-user limits table, for older releases",
    statements: [
      `CREATE TABLE IF NOT EXISTS user_usage (
        user_key TEXT NOT NULL,
        day TEXT NOT NULL,
        minute INTEGER NOT NULL,
        minute_count INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        notified_minute INTEGER NOT NULL DEFAULT -1,
        PRIMARY KEY (user_key, day)
      ) STRICT`,
    ],
  },
  {
    // The media a caption came with ("photo"): a burst's caption tells the model a photo came with it, as a caption
    // alone does (src/agents/orchestrator/experience/burst.ts). NULL for rows stored before, and for those an older
    // release stores (it names its columns).
    version: 77,
    name: "chat inbox: a caption's media",
    statements: ["ALTER TABLE chat_inbox ADD COLUMN attachment TEXT"],
  },
  {
    // The hourly redaction of keyed messages' text (src/bus/retention.ts, REDACT_KEYED) found its next chunk through
    // bus_messages_keyed, reading every message it had already redacted: with a retentionDays under the 8-day dedup
    // window, ~200 ms of write lock per chunk at 10,000 chats a day. This index holds only those still to redact.
    version: 78,
    name: "bus: keyed messages not yet redacted",
    statements: [
      `CREATE INDEX bus_messages_unredacted ON bus_messages (published_at)
        WHERE idem_key IS NOT NULL AND payload <> '{"redacted":true}'`,
    ],
  },
  {
    // A handoff command retried after a crash between its writes (roles/handoff-flow.ts): `resumed_by` lets the
    // retry of the /resume or /bot that gave the chat back tell the user and the operator again (their reply keys
    // send once); `saved_by` keeps a relayed or forwarded turn to one row per message and role.
    version: 79,
    name: "roles: handoff commands safe to retry",
    statements: [
      "ALTER TABLE handoffs ADD COLUMN resumed_by INTEGER",
      "ALTER TABLE conversation_turns ADD COLUMN saved_by INTEGER",
      "CREATE UNIQUE INDEX conversation_turns_saved ON conversation_turns (saved_by, role) WHERE saved_by IS NOT NULL",
    ],
  },
  {
    // The end (epoch ms) of a WhatsApp number's back-off for every chat (131048, 130429, 131057), one row per agent:
    // the process after a restart during it holds its sends too (src/agents/whatsapp/agent.ts).
    version: 80,
    name: "channels: number-wide send holds",
    statements: ["CREATE TABLE channel_holds (agent TEXT PRIMARY KEY, until_at INTEGER NOT NULL) STRICT"],
  },
  {
    // What the model is told of a lead (roles/leads-flow.ts `facts`): the fields extracted since its chat's last
    // /reset, as a JSON object; /reset sets '{}'. NULL for a lead not written since: all its fields.
    version: 81,
    name: "roles: lead fields told to the model since /reset",
    statements: ["ALTER TABLE leads ADD COLUMN known_fields TEXT"],
  },
];
