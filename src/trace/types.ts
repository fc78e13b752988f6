/**
 * What a trace is: the timeline of one inbound message across agents, one event per stage.
 *
 * @module
 */

/** Stages in the order a message normally goes through them (also the tie-break for events in the same ms). */
export const TRACE_STAGES = [
  "received",
  "duplicate",
  "stored",
  "claimed",
  "cache",
  "route",
  "provider",
  "reply_queued",
  "sent",
  "retry",
  "dead_letter",
  "error",
] as const;

/**
 * - `received`: a channel agent got the message (give `chat`); `duplicate`: a redelivery was dropped
 * - `stored`: it is durable in the inbox/bus (bus id); `claimed`: a consumer leased it (group, attempt)
 * - `cache`: cache lookup result and reason; `route`: the router's tier, chain and reason
 * - `provider`: one provider attempt (provider, model, status; give `durationMs`)
 * - `reply_queued`: the reply was published to the outbox; `sent`: the platform accepted it (platform message id)
 * - `retry`: a delivery or send will be retried (attempt, delay, error); `dead_letter`: it gave up; `error`: other
 */
export type TraceStage = (typeof TRACE_STAGES)[number];

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Small facts about a stage (ids, reasons, status codes). Never message text, tokens or keys. */
export type TraceDetail = { readonly [key: string]: JsonValue | undefined };

export interface TraceEvent {
  traceId: string;
  agent: string;
  stage: TraceStage;
  /** Epoch ms when the stage happened (its start, for a timed stage). */
  at: number;
  /** Order of events recorded by one process (breaks ties within a millisecond). */
  seq: number;
  durationMs?: number;
  /** The chat this trace belongs to (e.g. `chatKey(agent, chatId)`), given on `received`. */
  chat?: string;
  detail: { [key: string]: JsonValue };
}

/** Rank of a stage in the usual order (unknown stages last). */
export function stageRank(stage: string): number {
  const i = (TRACE_STAGES as readonly string[]).indexOf(stage);
  return i === -1 ? TRACE_STAGES.length : i;
}

/** Events sorted into timeline order: time, then the emitting process's own order, then the usual stage order. */
export function sortTimeline<T extends Pick<TraceEvent, "at" | "agent" | "seq" | "stage">>(
  events: readonly T[],
): T[] {
  return [...events].sort((a, b) =>
    a.at - b.at || (a.agent === b.agent ? a.seq - b.seq : stageRank(a.stage) - stageRank(b.stage)) ||
    a.agent.localeCompare(b.agent)
  );
}
