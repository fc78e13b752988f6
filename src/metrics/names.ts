/**
 * The catalogue of metric names every area emits, with help text and label names. Use the constants, not string
 * literals: `metrics.inc(M.messagesIn, { channel: "telegram" })`. The emitting agent is not a label: every
 * series is stored with its agent's name, and Prometheus tells agents apart by their scrape target.
 *
 * Units are in the names (`_ms`, `_bytes`, `_usd`, `_ratio`); counters end in `_total`.
 *
 * @module
 */
import type { MetricSpec } from "./types.ts";

const counter = (name: string, help: string, labels: readonly string[] = []): MetricSpec => ({
  name,
  type: "counter",
  help,
  labels,
});
const gauge = (name: string, help: string, labels: readonly string[] = []): MetricSpec => ({
  name,
  type: "gauge",
  help,
  labels,
});
const histogram = (
  name: string,
  help: string,
  labels: readonly string[] = [],
  bounds?: readonly number[],
): MetricSpec => ({ name, type: "histogram", help, labels, ...(bounds ? { bounds } : {}) });

/** The write lock is held for ~0.02–1 ms per transaction: finer buckets than other latencies. */
const LOCK_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1_000, 5_000];

/** Every catalogued metric by a short key. */
export const METRICS = {
  // Process and HTTP: wired by the agent runtime for every agent.
  rss: gauge("aideazz_process_resident_memory_bytes", "Resident set size of the agent's process in bytes"),
  uptime: gauge("aideazz_uptime_seconds", "Seconds since the agent started"),
  agentStarts: counter(
    "aideazz_agent_starts_total",
    "Times the agent started; more than one in a window means restarts (crash, OOM kill, deploy)",
  ),
  httpRequests: counter("aideazz_http_requests_total", "HTTP requests answered by the agent", [
    "method",
    "route",
    "status",
  ]),
  httpDuration: histogram("aideazz_http_request_duration_ms", "Time to answer an HTTP request in ms", [
    "method",
    "route",
  ]),
  flushDuration: histogram(
    "aideazz_metrics_flush_duration_ms",
    "Time of one batched metrics and trace write in ms",
  ),
  flushErrors: counter(
    "aideazz_metrics_flush_errors_total",
    "Metrics and trace writes that failed (kept for the next)",
    [
      "code",
    ],
  ),
  seriesDropped: counter(
    "aideazz_metrics_series_dropped_total",
    "Observations dropped because a metric already had too many label sets",
    ["metric"],
  ),
  traceEventsDropped: counter(
    "aideazz_trace_events_dropped_total",
    "Trace events dropped because the buffer was full (store unavailable)",
  ),

  // Channel agents (telegram, whatsapp, webchat).
  messagesIn: counter("aideazz_messages_in_total", "Inbound chat messages stored and acknowledged", [
    "channel",
  ]),
  messagesOut: counter("aideazz_messages_out_total", "Replies sent to the platform", ["channel"]),
  ackLatency: histogram(
    "aideazz_ack_latency_ms",
    "Webhook or poll receipt to the platform's acknowledgement in ms",
    [
      "channel",
    ],
  ),
  replyLatency: histogram("aideazz_reply_latency_ms", "End to end: message received to reply sent, in ms", [
    "channel",
  ]),
  sendErrors: counter("aideazz_send_errors_total", "Failed sends by platform and platform error code", [
    "platform",
    "code",
  ]),
  duplicatesSuppressed: counter(
    "aideazz_duplicates_suppressed_total",
    "Duplicates dropped: redelivered webhooks (ingress), idempotent publishes (publish), already-sent replies (send)",
    ["stage"],
  ),

  // Bus.
  busDepth: gauge(
    "aideazz_bus_depth",
    "Messages waiting in a consumer group by state (ready, in_flight, delayed)",
    [
      "topic",
      "group",
      "state",
    ],
  ),
  busOldestAge: gauge(
    "aideazz_bus_oldest_age_ms",
    "Age of the oldest unhandled message of a consumer group in ms",
    [
      "topic",
      "group",
    ],
  ),
  busDeadLetters: gauge("aideazz_bus_dead_letters", "Dead letters of a consumer group", ["topic", "group"]),
  busHandled: counter("aideazz_bus_handled_total", "Deliveries handled by outcome (ack, retry, later: handed back undone, dead)", [
    "topic",
    "group",
    "outcome",
  ]),
  busLeaseLost: counter("aideazz_bus_lease_lost_total", "Leases lost while a handler ran", [
    "topic",
    "group",
  ]),
  busHop: histogram("aideazz_bus_hop_ms", "Publish to first claim of a message in ms", ["topic", "group"]),

  // The store's write lock (a local database file): one transaction of this process's grouped writes.
  storeLockWait: histogram(
    "aideazz_store_lock_wait_ms",
    "Time a transaction of this agent waited for the database's write lock in ms",
    [],
    LOCK_BUCKETS_MS,
  ),
  storeLockHold: histogram(
    "aideazz_store_lock_hold_ms",
    "Time this agent held the database's write lock for one transaction in ms (other agents' writes wait for it)",
    [],
    LOCK_BUCKETS_MS,
  ),

  // Router and cache (orchestrator).
  routerDecisions: counter(
    "aideazz_router_decisions_total",
    "Messages by tier, the provider that answered (cache; none: every provider failed on its last attempt) and outcome (answered; failed; unanswered: no FAQ entry, cached answer or model)",
    ["tier", "provider", "outcome"],
  ),
  providerRequests: counter(
    "aideazz_provider_requests_total",
    "Provider attempts by outcome (ok, error, timeout, 429), and calls not made (skipped_budget, skipped_quota, skipped_breaker_open, …)",
    [
      "provider",
      "model",
      "outcome",
    ],
  ),
  providerLatency: histogram("aideazz_provider_latency_ms", "Provider attempt latency in ms", [
    "provider",
    "model",
  ]),
  tokens: counter("aideazz_tokens_total", "Tokens used per provider and model (direction: input, output)", [
    "provider",
    "model",
    "direction",
  ]),
  cost: counter("aideazz_cost_usd_total", "Spend in US dollars per provider and model", [
    "provider",
    "model",
  ]),
  quotaHeadroom: gauge(
    "aideazz_quota_headroom_ratio",
    "Share of a provider quota still available (window: rpm, rpd, tpm, tpd), 0 to 1",
    ["provider", "model", "window"],
  ),
  budgetLeft: gauge("aideazz_budget_left_usd", "Budget left in US dollars (period: day, month)", ["period"]),
  cacheLookups: counter("aideazz_cache_lookups_total", "Reply cache lookups by result (hit, miss)", [
    "result",
  ]),
  cacheChecks: counter(
    "aideazz_cache_checks_total",
    "Cache hits answered fresh to check them (a sampled share, cache.checkShare)",
  ),
  cacheFalseHits: counter("aideazz_cache_false_hits_total", "Checked cache hits whose fresh answer disagreed"),
  breakerState: gauge(
    "aideazz_breaker_state",
    "Circuit breaker per provider: 0 closed, 1 half-open, 2 open",
    [
      "provider",
    ],
  ),
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;

/** Metric names by key: `M.messagesIn === "aideazz_messages_in_total"`. */
export const M = Object.fromEntries(Object.entries(METRICS).map(([k, v]) => [k, v.name])) as {
  readonly [K in MetricKey]: string;
};

/** The catalogue as a list, for `createMetrics({ catalogue })`. */
export const CATALOGUE: readonly MetricSpec[] = Object.values(METRICS);

/** Numeric values of `aideazz_breaker_state`. */
export const BREAKER_STATE_VALUE = { closed: 0, "half-open": 1, open: 2 } as const;
