/**
 * Inputs a channel deliberately does not answer (table `channel_skipped`, migration 20): `stale` (older than the
 * configured cutoff when it reached us, e.g. after an outage) and `ignored` (edits, channel posts, reactions,
 * non-text when no polite answer is configured). Recording them is what "processed" means for these inputs.
 *
 * @module
 */
import type { InStatement } from "../../store/mod.ts";

export type SkipReason = "stale" | "ignored";

export interface Skipped {
  platformId: string;
  chatId: string;
  reason: SkipReason;
  /** What it was (`text`, `sticker`, `edited_message`, …). */
  detail: string;
  sentAt: number;
}

/** Records a skipped input once (a redelivery changes nothing). */
export function recordSkipped(agent: string, s: Skipped, now: number): InStatement {
  return {
    sql: `INSERT INTO channel_skipped (agent, platform_id, chat_id, reason, detail, sent_at, recorded_at)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    args: [agent, s.platformId, s.chatId, s.reason, s.detail, s.sentAt, now],
  };
}

/** True when a message sent at `sentAt` is older than `staleAfterMs` at `now`. */
export function isStale(sentAt: number, now: number, staleAfterMs: number): boolean {
  return now - sentAt > staleAfterMs;
}
