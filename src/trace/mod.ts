/**
 * Tracing: every inbound message gets a trace id (`newTraceId()`) that travels in bus envelopes
 * (`PublishInput.traceId` → `Delivery.traceId`), router decisions and sends. Each agent records the stages it
 * sees with `deps.tracer.event(traceId, stage, detail)`; the runtime's flush loop writes them with the metrics,
 * and each agent deletes the expired ones once a minute (`purgeTraceEvents`).
 * `aideazz trace <id | chat:<id> | last>` prints the timeline across agents.
 *
 * @module
 */
export { isTraceIdOrPart, newTraceId, shortTraceId } from "./id.ts";
export type { RandomBytes } from "./id.ts";
export { createTracer, purgeTraceEvents } from "./tracer.ts";
export type { EventOptions, Tracer, TracerOptions } from "./tracer.ts";
export { sortTimeline, stageRank, TRACE_STAGES } from "./types.ts";
export type { JsonValue, TraceDetail, TraceEvent, TraceStage } from "./types.ts";
export {
  eventsOf,
  lastTraceIds,
  matchTraceIds,
  recentTraces,
  summarizeTrace,
  traceIdsOfChat,
} from "./query.ts";
export type { TraceSummary } from "./query.ts";
export { formatDetail, formatOffset, formatTimeline } from "./format.ts";
