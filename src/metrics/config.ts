/**
 * The optional `metrics` section of the config file: how often each agent writes its metrics and trace events to
 * the store, and how long each resolution is kept (so the file stays bounded).
 *
 * @module
 */
import { z } from "zod";

const positive = z.number().positive();

export const metricsConfigSchema = z.strictObject({
  flushIntervalMs: z.number().int().min(500).max(60_000).default(5_000).describe(
    "How often each agent writes its metrics and trace events (trace events also every 400); a crash loses at most this",
  ),
  retention: z.strictObject({
    tenSecondHours: positive.default(6).describe("Hours of 10-second samples kept"),
    minuteDays: positive.default(3).describe("Days of 1-minute rollups kept"),
    hourDays: positive.default(90).describe("Days of 1-hour rollups kept"),
    traceDays: positive.default(7).describe("Days of trace events kept (at most conversation.retentionDays)"),
    traceMaxEvents: z.number().int().min(1_000).default(1_000_000).describe(
      "Most trace events kept (about 200 bytes each with indexes); the oldest go first, so a burst cannot fill the disk",
    ),
  }).default({ tenSecondHours: 6, minuteDays: 3, hourDays: 90, traceDays: 7, traceMaxEvents: 1_000_000 }),
}).describe("Metrics and traces written to the store");

export type MetricsConfig = z.infer<typeof metricsConfigSchema>;

/** The metrics section when the config has none. */
export const DEFAULT_METRICS_CONFIG: MetricsConfig = metricsConfigSchema.parse({});
