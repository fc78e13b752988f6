/**
 * Records without message text that still name a user (a chat id, a `whatsapp:<phone>` key) or grow by a row per
 * message: deleted once older than `conversation.retentionDays`, with the conversation they belong to. The channel
 * agents' delivery statuses, skipped inputs and contacts; the router's decisions, cache checks and per-user limit
 * counters (a counter older than a day never limits anyone again). Leads, lead events and handoffs are the
 * business's own records and stay. Each statement deletes a chunk (`purgeInChunks`); the tables without an index on
 * their age (contacts and limit counters, the previous release's `user_usage` too: one row per user; cache checks: a
 * sample of cache hits) are scanned: 3–5 ms per chunk over 100,000 users (measured 2026-11-28).
 *
 * Also the replies nobody will send: those queued for a channel agent since renamed or removed (abandonedReplyTopics),
 * which bus retention moves to the dead letters so that their text goes with them.
 *
 * @module
 */
import { outboundTopic } from "../../bus/envelopes.ts";
import type { AgentConfig } from "../../config.ts";
import { type Client, purgeInChunks } from "../../store/mod.ts";

/** ?1 cutoff (epoch ms), ?2 chunk size. */
const PURGES = [
  `DELETE FROM channel_deliveries WHERE (agent, message_id) IN (
    SELECT agent, message_id FROM channel_deliveries WHERE updated_at < ?1 LIMIT ?2)`,
  `DELETE FROM channel_skipped WHERE (agent, platform_id) IN (
    SELECT agent, platform_id FROM channel_skipped WHERE recorded_at < ?1 LIMIT ?2)`,
  `DELETE FROM channel_contacts WHERE (agent, chat_id) IN (
    SELECT agent, chat_id FROM channel_contacts WHERE updated_at < ?1 LIMIT ?2)`,
  `DELETE FROM router_decisions WHERE id IN (SELECT id FROM router_decisions WHERE at < ?1 LIMIT ?2)`,
  `DELETE FROM cache_checks WHERE id IN (SELECT id FROM cache_checks WHERE at < ?1 LIMIT ?2)`,
  `DELETE FROM user_rate WHERE user_key IN (SELECT user_key FROM user_rate WHERE minute < ?1 / 60000 LIMIT ?2)`,
  `DELETE FROM user_tokens WHERE (user_key, day) IN (
    SELECT user_key, day FROM user_tokens WHERE day < strftime('%Y-%m-%d', ?1 / 1000, 'unixepoch') LIMIT ?2)`,
  // The previous release's limits table (migration 76): written during a rollback, read by nothing of this one.
  `DELETE FROM user_usage WHERE (user_key, day) IN (
    SELECT user_key, day FROM user_usage WHERE day < strftime('%Y-%m-%d', ?1 / 1000, 'unixepoch') LIMIT ?2)`,
];

/** Deletes the records older than `cutoff` (epoch ms), until `signal` is aborted; returns how many. */
export async function purgeRecordsBefore(client: Client, cutoff: number, signal?: AbortSignal): Promise<number> {
  let total = 0;
  for (const sql of PURGES) total += await purgeInChunks(client, sql, cutoff, { signal });
  return total;
}

/**
 * A process runs under an agent's name: its heartbeat has no stop and was seen within the last hour (every flush
 * interval moves it; one that died without a clean stop — OOM, SIGKILL, a power loss — never records one).
 */
export const RUNNING_AGENT_SQL = "stopped_at IS NULL AND seen_at >= ?";
export const RUNNING_SEEN_WITHIN_MS = 3_600_000;

/**
 * The outbound topics of channel agents that are gone, each with the reason for its dead letters: subscribed once,
 * not a channel agent of `agents` (the config), and no process running under the name (`RUNNING_AGENT_SQL`) — as
 * the orchestrator's turn judges an inbound message's agent (turn.ts checkAgent). One added to a running deployment
 * has a heartbeat.
 */
export async function abandonedReplyTopics(
  client: Client,
  agents: readonly AgentConfig[],
  now: number,
): Promise<{ topic: string; reason: string }[]> {
  const prefix = outboundTopic("");
  const configured = new Set(
    agents.filter((a) => a.kind !== "orchestrator" && a.kind !== "analytics").map((a) => outboundTopic(a.name)),
  );
  const [subscribed, running] = await Promise.all([
    client.execute("SELECT DISTINCT topic FROM bus_subscriptions"),
    client.execute({
      sql: `SELECT agent FROM agent_heartbeats WHERE ${RUNNING_AGENT_SQL}`,
      args: [now - RUNNING_SEEN_WITHIN_MS],
    }),
  ]);
  const live = new Set(running.rows.map((r) => outboundTopic(String(r["agent"]))));
  return subscribed.rows.map((r) => String(r["topic"]))
    .filter((t) => t.startsWith(prefix) && !configured.has(t) && !live.has(t))
    .map((topic) => {
      const agent = topic.slice(prefix.length);
      return { topic, reason: `channel agent "${agent}" is not in the config (renamed or removed?): nobody sends its replies` };
    });
}
