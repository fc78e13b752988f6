/**
 * Erasure of one chat (`aideazz forget chat:<agent>:<chat id>`): everything the agents stored about it, in one write
 * transaction — its conversation turns, inbox rows, lead and handoff, bus messages (inbound, replies, and copies
 * relayed to an operator that answer its messages) with their deliveries and dead letters, send-ledger rows, web
 * chat replies, contact, skipped inputs, delivery states, trace events, the abuse counters of its users (of every
 * user seen in a group), and the cached answers whose question is one it sent (the cache does not record who asked:
 * the same question from someone else goes too, which costs only a cache miss).
 *
 * An inbound message that had an idempotency key keeps its row as a bare duplicate guard (no text, no chat, its
 * platform id kept until retention purges it after the dedup window): a webhook the platform retries for a message
 * already handled is dropped, not answered as a new conversation.
 *
 * In flight: deleting the deliveries revokes their leases, so an agent mid-turn or mid-send can commit nothing
 * more (its writes are fenced by the lease) and sends nothing it had not started. A send already on the wire (its
 * intent in the ledger) and a turn already past its model call may still finish: when any was under way, `forget`
 * waits until those leases would have ended and such a send timed out, then runs again, so what they wrote goes too.
 *
 * @module
 */
import { chatKey, INBOUND_TOPIC, outboundTopic } from "../bus/envelopes.ts";
import { REDACTED_PAYLOAD } from "../bus/mod.ts";
import type { Client, InStatement, Transaction } from "../store/mod.ts";
import { SEND_TIMEOUT_MS } from "./channel/outcome.ts";

/** One chat as `aideazz trace` names it: the channel agent and the chat id it keys the chat by. */
export interface ChatRef {
  agent: string;
  chatId: string;
}

const AGENT = /^[a-z][a-z0-9-]{0,62}$/;
const CHAT_ID = /^[^\s:]{1,200}$/u;

/**
 * Reads `chat:<agent>:<chat id>` (or `chat:<chat id>`, agent undefined); undefined when it is neither.
 *
 * @example
 * ```ts
 * parseChatRef("chat:wa-sales:15550001234"); // { agent: "wa-sales", chatId: "15550001234" }
 * ```
 */
export function parseChatRef(text: string): { agent?: string; chatId: string } | undefined {
  const m = /^chat:(?:([^:]*):)?([^:]*)$/.exec(text);
  if (!m || !CHAT_ID.test(m[2]!) || /\p{Cc}/u.test(m[2]!)) return undefined;
  if (m[1] === undefined) return { chatId: m[2]! };
  return AGENT.test(m[1]) ? { agent: m[1], chatId: m[2]! } : undefined;
}

/** The agents that stored something about chat id `chatId`. */
export async function agentsOfChat(client: Client, chatId: string): Promise<string[]> {
  const rs = await client.execute({
    sql: `SELECT agent FROM channel_contacts WHERE chat_id = ?1 UNION SELECT agent FROM chat_inbox WHERE chat_id = ?1
      UNION SELECT agent FROM leads WHERE chat_id = ?1 UNION SELECT agent FROM webchat_replies WHERE session_id = ?1
      ORDER BY 1`,
    args: [chatId],
  });
  return rs.rows.map((r) => String(r["agent"]));
}

/** What `forget` deleted (or would delete), per kind. */
export type ForgetCounts = Record<(typeof KINDS)[number], number>;

export const KINDS = [
  "conversation turns",
  "inbox messages",
  "bus messages",
  "bus deliveries",
  "dead letters",
  "send ledger rows",
  "web chat replies",
  "leads",
  "lead events",
  "handoffs",
  "contacts",
  "skipped inputs",
  "delivery states",
  "trace events",
  "usage counters",
  "cache entries",
  "chat moves",
] as const;

export interface ForgetOptions {
  /** Count only: the transaction is rolled back. */
  dryRun?: boolean;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** The agent's channel when the config names it; otherwise read from its messages (all three when none says). */
  channel?: string;
  /** How often the agents write their trace events (`metrics.flushIntervalMs`). */
  traceFlushMs: number;
  /** Told before a wait for work under way on the chat. */
  onWait?: (ms: number) => void;
}

export interface ForgetResult {
  counts: ForgetCounts;
  /** Relays to an operator's chat still waiting to be sent there: left to go out (retention removes them later). */
  relaysQueued: number;
  waitedMs: number;
}

/** What one pass found, carried into the next: a second pass no longer finds the messages that named them. */
interface Found {
  replyKeys: Set<string>;
  traceIds: Set<string>;
  userKeys: Set<string>;
  texts: Set<string>;
}

/** The channel agents' and the orchestrator's bus lease (src/agents/channel/spine.ts, orchestrator/agent.ts). */
const AGENT_LEASE_MS = 30_000;

const json = (s: Iterable<string | number>) => JSON.stringify([...s]);
const IN = (n: number) => `(SELECT value FROM json_each(?${n}))`;

/**
 * Deletes what is stored about `ref` (see the module comment), waiting for work under way on it first when there was
 * any.
 */
export async function forgetChat(client: Client, ref: ChatRef, opts: ForgetOptions): Promise<ForgetResult> {
  const found: Found = { replyKeys: new Set(), traceIds: new Set(), userKeys: new Set(), texts: new Set() };
  const first = await pass(client, ref, found, opts, true);
  if (opts.dryRun || first.busyUntil <= opts.now()) return { counts: first.counts, relaysQueued: first.relaysQueued, waitedMs: 0 };
  // The times are other processes' wall clocks: one stepped back since (NTP, a restored VM) must not stretch the wait
  // past what an agent can take.
  const waitMs = Math.min(first.busyUntil - opts.now(), AGENT_LEASE_MS + SEND_TIMEOUT_MS + opts.traceFlushMs + 1_000);
  opts.onWait?.(waitMs);
  await opts.sleep(waitMs);
  const second = await pass(client, ref, found, opts, false);
  const counts = Object.fromEntries(KINDS.map((k) => [k, first.counts[k] + second.counts[k]])) as ForgetCounts;
  return { counts, relaysQueued: second.relaysQueued, waitedMs: waitMs };
}

async function pass(client: Client, ref: ChatRef, found: Found, opts: ForgetOptions, spareSending: boolean) {
  const tx = await client.transaction("write");
  try {
    const r = await erase(tx, ref, found, opts, spareSending);
    if (opts.dryRun) await tx.rollback();
    else await tx.commit();
    return r;
  } finally {
    tx.close();
  }
}

async function erase(tx: Transaction, ref: ChatRef, found: Found, opts: ForgetOptions, spareSending: boolean) {
  const { agent, chatId } = ref;
  const key = chatKey(agent, chatId);
  const rows = async (sql: string, args: (string | number)[]) => (await tx.execute({ sql, args })).rows;
  const ids = async (sql: string, args: (string | number)[]) => (await rows(sql, args)).map((r) => Number(r[0]));
  const run = async (s: InStatement) => (await tx.execute(s)).rowsAffected;

  const inbound = new Set(await ids(
    `SELECT id FROM bus_messages WHERE topic = ?1 AND okey = ?2
      UNION SELECT bus_id FROM chat_inbox WHERE agent = ?3 AND chat_id = ?4 AND bus_id IS NOT NULL`,
    [INBOUND_TOPIC, key, agent, chatId],
  ));
  const replies = await ids("SELECT id FROM bus_messages WHERE topic = ?1 AND okey = ?2", [outboundTopic(agent), key]);
  // Copies relayed to another chat (an operator's) while one of this chat's messages was handled.
  const relays = await rows(
    `SELECT DISTINCT m.id, EXISTS (SELECT 1 FROM bus_deliveries d WHERE d.msg_id = m.id) AS queued
      FROM bus_messages m, json_each(m.payload, '$.inReplyTo') AS r
      WHERE substr(m.topic, 1, 9) = 'outbound.' AND m.okey <> ?1 AND r.value IN ${IN(2)}`,
    [key, json(inbound)],
  );
  const relaysQueued = relays.filter((r) => Number(r["queued"]) === 1).length;
  const messages = [...inbound, ...replies, ...relays.filter((r) => Number(r["queued"]) === 0).map((r) => Number(r["id"]))];
  const m = json(messages);

  // What the messages and rows name, before they go.
  for (const r of await rows(`SELECT payload ->> '$.replyKey' AS k, idem_key FROM bus_messages WHERE id IN ${IN(1)}`, [m])) {
    if (r["k"] !== null) found.replyKeys.add(String(r["k"]));
    const idem = r["idem_key"] === null ? "" : String(r["idem_key"]);
    if (idem.startsWith("reply:")) found.replyKeys.add(idem.slice("reply:".length));
  }
  for (
    const r of await rows(
      `SELECT reply_key FROM chat_inbox WHERE agent = ?1 AND chat_id = ?2 AND reply_key IS NOT NULL
        UNION SELECT reply_key FROM webchat_replies WHERE agent = ?1 AND session_id = ?2
        UNION SELECT reply_key FROM channel_deliveries WHERE agent = ?1 AND chat_id = ?2 AND reply_key IS NOT NULL`,
      [agent, chatId],
    )
  ) found.replyKeys.add(String(r[0]));
  for (
    const r of await rows(
      `SELECT trace_id FROM trace_events WHERE chat = ?1
        UNION SELECT trace_id FROM bus_messages WHERE id IN ${IN(2)} AND trace_id IS NOT NULL`,
      [key, m],
    )
  ) found.traceIds.add(String(r[0]));
  const users = new Set([chatId]);
  const channels = new Set(opts.channel ? [opts.channel] : []);
  for (
    const r of await rows(
      `SELECT payload ->> '$.userId' AS user, payload ->> '$.channel' AS channel, payload ->> '$.clientAddress' AS address,
        payload ->> '$.text' AS text FROM bus_messages WHERE id IN ${IN(1)} AND topic = ?2`,
      [m, INBOUND_TOPIC],
    )
  ) {
    if (r["user"] !== null) users.add(String(r["user"]));
    if (r["channel"] !== null && !opts.channel) channels.add(String(r["channel"]));
    if (r["address"] !== null) found.userKeys.add(`address:${agent}:${String(r["address"])}`);
    if (r["text"] !== null) found.texts.add(String(r["text"]));
  }
  for (const r of await rows("SELECT user_id, text FROM chat_inbox WHERE agent = ?1 AND chat_id = ?2", [agent, chatId])) {
    if (r["user_id"] !== null) users.add(String(r["user_id"]));
    found.texts.add(String(r["text"]));
  }
  for (const r of await rows("SELECT text FROM conversation_turns WHERE chat = ?1 AND role = 'user'", [key])) {
    found.texts.add(String(r[0]));
  }
  for (const c of channels.size > 0 ? channels : ["telegram", "whatsapp", "webchat"]) {
    for (const u of users) found.userKeys.add(`${c}:${u}`);
  }

  // An agent holding one of these deliveries (mid-turn, mid-send) loses its lease with it; a send on the wire may
  // still end, and a turn write what is not fenced, until then. Each agent writes its trace events a flush interval
  // after the fact.
  const keys = json(found.replyKeys);
  const LEDGER = `(reply_key IN ${IN(1)} OR EXISTS (SELECT 1 FROM json_each(?1) AS k
    WHERE reply_key > k.value || '#' AND reply_key < k.value || '$'))`;
  const [busy] = await rows(
    `SELECT max(
      coalesce((SELECT max(published_at) FROM bus_messages WHERE id IN ${IN(2)}), 0),
      coalesce((SELECT max(due_at) FROM bus_deliveries WHERE msg_id IN ${IN(2)} AND state = 1), 0),
      coalesce((SELECT max(coalesce(finished_at, started_at + ?3)) FROM bus_send_ledger WHERE ${LEDGER}), 0)) AS at`,
    [keys, m, SEND_TIMEOUT_MS],
  );
  const at = Number(busy?.["at"] ?? 0);
  const busyUntil = at === 0 ? 0 : at + opts.traceFlushMs + 1_000;
  const counts = {} as ForgetCounts;
  counts["bus messages"] = messages.length === 0 ? 0 : Number(
    (await rows(`SELECT count(*) FROM bus_messages WHERE id IN ${IN(1)} AND payload <> ?2`, [m, REDACTED_PAYLOAD]))[0]![0],
  );
  counts["bus deliveries"] = await run({ sql: `DELETE FROM bus_deliveries WHERE msg_id IN ${IN(1)}`, args: [m] });
  counts["dead letters"] = await run({ sql: `DELETE FROM bus_dead_letters WHERE msg_id IN ${IN(1)}`, args: [m] });
  // The duplicate guard of an inbound message: its idempotency key alone.
  await run({
    sql: `UPDATE bus_messages SET okey = '', payload = ?2, trace_id = NULL
      WHERE id IN ${IN(1)} AND topic = ?3 AND idem_key IS NOT NULL`,
    args: [m, REDACTED_PAYLOAD, INBOUND_TOPIC],
  });
  await run({
    sql: `DELETE FROM bus_messages WHERE id IN ${IN(1)} AND NOT (topic = ?2 AND idem_key IS NOT NULL)`,
    args: [m, INBOUND_TOPIC],
  });
  await run({
    sql: "DELETE FROM bus_keys WHERE okey = ?1 AND topic IN (?2, ?3)",
    args: [key, INBOUND_TOPIC, outboundTopic(agent)],
  });
  const byChat: [keyof ForgetCounts, string, (string | number)[]][] = [
    ["inbox messages", "DELETE FROM chat_inbox WHERE agent = ?1 AND chat_id = ?2", [agent, chatId]],
    ["web chat replies", "DELETE FROM webchat_replies WHERE agent = ?1 AND session_id = ?2", [agent, chatId]],
    ["contacts", "DELETE FROM channel_contacts WHERE agent = ?1 AND chat_id = ?2", [agent, chatId]],
    ["skipped inputs", "DELETE FROM channel_skipped WHERE agent = ?1 AND chat_id = ?2", [agent, chatId]],
    ["delivery states", "DELETE FROM channel_deliveries WHERE agent = ?1 AND chat_id = ?2", [agent, chatId]],
    ["conversation turns", "DELETE FROM conversation_turns WHERE chat = ?1", [key]],
    ["lead events", "DELETE FROM lead_events WHERE lead_id IN (SELECT id FROM leads WHERE chat = ?1)", [key]],
    ["leads", "DELETE FROM leads WHERE chat = ?1", [key]],
    ["handoffs", "DELETE FROM handoffs WHERE chat = ?1", [key]],
    ["chat moves", "DELETE FROM telegram_chat_moves WHERE from_chat = ?1 OR to_chat = ?1", [chatId]],
  ];
  for (const [kind, sql, args] of byChat) counts[kind] = await run({ sql, args });
  counts["send ledger rows"] = await run({
    sql: `DELETE FROM bus_send_ledger WHERE ${LEDGER} AND NOT (?2 AND state = 'sending' AND started_at > ?3)`,
    args: [keys, spareSending ? 1 : 0, opts.now() - SEND_TIMEOUT_MS],
  });
  counts["trace events"] = await run({
    sql: `DELETE FROM trace_events WHERE trace_id IN ${IN(1)}`,
    args: [json(found.traceIds)],
  });
  const userKeys = json(found.userKeys);
  counts["usage counters"] = 0;
  for (const table of ["user_rate", "user_tokens", "user_usage"]) {
    counts["usage counters"] += await run({ sql: `DELETE FROM ${table} WHERE user_key IN ${IN(1)}`, args: [userKeys] });
  }
  const texts = json(found.texts);
  await run({
    sql: `DELETE FROM cache_checks WHERE entry_id IN (SELECT id FROM cache_entries WHERE prompt IN ${IN(1)})`,
    args: [texts],
  });
  counts["cache entries"] = await run({ sql: `DELETE FROM cache_entries WHERE prompt IN ${IN(1)}`, args: [texts] });
  return { counts, relaysQueued, busyUntil };
}
