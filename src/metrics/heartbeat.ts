/**
 * The agent's heartbeat rides along with every flush: `agent_heartbeats.seen_at` moves forward once per flush
 * interval at no extra write transaction, so "last seen" means "its flush loop is alive".
 *
 * @module
 */
import type { FlushSource } from "./flush-loop.ts";

export function createHeartbeatSource(agent: string): FlushSource {
  return {
    collect: (now) => ({
      statements: [{ sql: "UPDATE agent_heartbeats SET seen_at = ? WHERE agent = ?", args: [now, agent] }],
      done() {},
    }),
  };
}
