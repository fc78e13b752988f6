/**
 * Metrics: an in-memory registry per agent (counters, gauges, latency histograms), served live at `/metrics`
 * in the Prometheus text format and written to the store every few seconds in a batched write, with 10 s,
 * 1 min and 1 h rollups and retention. `names.ts` is the catalogue every area emits; `query.ts`, `summary.ts`
 * and `kpis.ts` read it back for `aideazz stats` and the dashboard.
 *
 * @example
 * ```ts
 * import { M } from "../metrics/mod.ts";
 * deps.metrics.inc(M.messagesIn, { channel: "telegram" });
 * deps.metrics.observe(M.replyLatency, now() - inbound.receivedAt, { channel: "telegram" });
 * ```
 *
 * @module
 */
export { createMetrics, DEFAULT_BUCKETS_MS, MetricError } from "./registry.ts";
export type { Labels, Metrics, MetricsOptions, MetricSpec, MetricType, SeriesSnapshot } from "./registry.ts";
export { BREAKER_STATE_VALUE, CATALOGUE, M, METRICS } from "./names.ts";
export type { MetricKey } from "./names.ts";
export { PROMETHEUS_CONTENT_TYPE, toPrometheusText } from "./prometheus.ts";
export { addBuckets, percentiles, quantileFromBuckets } from "./quantile.ts";
export { createFlushLoop } from "./flush-loop.ts";
export type {
  FlushBatch,
  FlushLoop,
  FlushLoopOptions,
  FlushReport,
  FlushSource,
  Timers,
} from "./flush-loop.ts";
export { createMetricsWriter } from "./store-writer.ts";
export { createHeartbeatSource } from "./heartbeat.ts";
export type { MetricsWriterOptions } from "./store-writer.ts";
export { DEFAULT_METRICS_CONFIG, metricsConfigSchema } from "./config.ts";
export type { MetricsConfig } from "./config.ts";
export { bucketStart, HOUR, MINUTE, resolutionFor, RESOLUTIONS, retentionOf, TEN_SECONDS, windowStart } from "./tiers.ts";
export type { Retention } from "./tiers.ts";
export { hasMetricsTables, readSeries } from "./query.ts";
export type { ReadOptions, StoredPoint, StoredSeries } from "./query.ts";
export {
  counterSlots,
  deadLettersNow,
  gaugeSlots,
  lastValue,
  mergedBuckets,
  quantileSlots,
  rateSlots,
  slotGrid,
  slotOf,
  summarizeSeries,
  total,
} from "./summary.ts";
export type { SeriesSummary, SlotGrid, Window } from "./summary.ts";
export { checkedFalseHits, computeKpis, KPI_METRICS } from "./kpis.ts";
export type { Kpis } from "./kpis.ts";
export {
  formatByName,
  formatBytes,
  formatCount,
  formatMs,
  formatPercent,
  formatPercentDown,
  formatUsd,
  sparkline,
} from "./format.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export { httpMetrics } from "./http.ts";
export { createProcessSampler } from "./process.ts";
export { agentStatus, buildStatsReport, formatStatsReport } from "./report.ts";
export type { StatsAgent, StatsOptions, StatsReport } from "./report.ts";
