/**
 * Operations settings in the config file (`ops`): where the binary lives on the VM, periodic recycling, the
 * llama.cpp sidecar, health thresholds and restart flap protection, and `aideazz up`'s supervisor. Every field
 * has a default, so a config without `ops` keeps working.
 *
 * @module
 */
import { z } from "zod";
import { httpUrl } from "../config-types.ts";

/** A systemd-style size: digits and K, M or G (powers of 1024), e.g. "256M". */
export const sizeString = z.string().regex(/^\d+[KMG]$/, 'e.g. "256M" or "1G"');

const seconds = z.number().int().min(0);

export const recycleSchema = z.strictObject({
  afterSec: seconds.default(21_600).describe(
    "Recycle (gracefully restart) each agent after it has run this long; 0 turns recycling off. Per-agent override: limits.recycleAfterSec",
  ),
  spreadSec: seconds.default(3_600).describe(
    "Agents' recycle ages are staggered across this window (agent i of n gets afterSec + i * spreadSec / n)",
  ),
  minGapSec: z.number().int().min(5).default(60).describe(
    "The health job recycles at most one agent per run and never within this many seconds of another restart",
  ),
  backstopSec: seconds.default(3_600).describe(
    "systemd's RuntimeMaxSec = the agent's recycle age + this, so systemd recycles it if the health timer does not",
  ),
  jitterSec: seconds.default(300).describe(
    "RuntimeRandomizedExtraSec of the backstop (capped so staggered agents' backstops never come within 5 s)",
  ),
});

export const llamaSchema = z.strictObject({
  url: httpUrl.default("http://127.0.0.1:8090").describe(
    "Where llama-server listens; `aideazz health` checks <url>/health",
  ),
  bin: z.string().default("/usr/local/bin/llama-server").describe(
    "Path of the llama-server binary on the VM",
  ),
  model: z.string().default("/var/lib/aideazz/models/model.gguf").describe("GGUF model file"),
  threads: z.number().int().positive().default(2).describe("CPU threads for generation (--threads)"),
  contextSize: z.number().int().positive().default(4_096).describe("Context window in tokens (--ctx-size)"),
  embeddings: z.boolean().default(false).describe(
    "Serve /v1/embeddings too (--embeddings), for the response cache's semantic tier (cache.embeddings)",
  ),
  memoryMax: sizeString.default("6G").describe("MemoryMax of the sidecar's unit"),
  cpuQuota: z.string().regex(/^\d+%$/, 'e.g. "200%"').default("200%").describe(
    "CPUQuota of the sidecar's unit",
  ),
});

export const healthSchema = z.strictObject({
  timeoutMs: z.number().int().positive().default(8_000).describe(
    "How long /health may take; no answer in time = down. Above the store's 5 s busy timeout, which /health may wait out under a held lock",
  ),
  minDiskFree: sizeString.default("1G").describe("Less free space on the database's file system = degraded"),
  maxWal: sizeString.default("64M").describe("A larger -wal file = degraded (checkpoints are being starved)"),
  maxBacklogAgeSec: seconds.default(300).describe("A bus message waiting longer than this = degraded"),
  memoryWarnFraction: z.number().min(0).max(1).default(0.9).describe(
    "An agent using more than this share of its MemoryMax (or more than its MemoryHigh) = degraded",
  ),
});

export const restartSchema = z.strictObject({
  minIntervalSec: z.number().int().min(1).default(60).describe(
    "Back-off after the first restart of an agent within the hour",
  ),
  maxIntervalSec: z.number().int().min(1).default(900).describe(
    "Back-off cap (it doubles per restart within the hour)",
  ),
  maxPerHour: z.number().int().min(1).default(5).describe(
    "Restarts of one agent per rolling hour at most; then it is left down (and reported)",
  ),
}).superRefine((r, ctx) => {
  // The cap would win from the first restart: a first step above it silently means maxIntervalSec.
  if (r.minIntervalSec > r.maxIntervalSec) {
    const message = `above maxIntervalSec (${r.maxIntervalSec}); lower it or raise the cap`;
    ctx.addIssue({ code: "custom", path: ["minIntervalSec"], message });
  }
});

export const upSchema = z.strictObject({
  restartMinMs: z.number().int().min(0).default(1_000).describe("`aideazz up`: first back-off after a crash"),
  restartMaxMs: z.number().int().min(0).default(30_000).describe(
    "`aideazz up`: back-off cap (doubles per crash within the hour)",
  ),
  maxRestartsPerHour: z.number().int().min(1).default(10).describe(
    "`aideazz up`: crashes per hour before an agent is given up on",
  ),
  stopTimeoutMs: z.number().int().positive().default(30_000).describe(
    "`aideazz up`: graceful stop budget before SIGKILL",
  ),
  enforceMemory: z.boolean().default(true).describe(
    "`aideazz up`: kill an agent whose RSS exceeds its limits.memoryMax (like systemd's MemoryMax)",
  ),
}).superRefine((up, ctx) => {
  // As for ops.restart: the cap would win from the first crash.
  if (up.restartMinMs > up.restartMaxMs) {
    const message = `above restartMaxMs (${up.restartMaxMs}); lower it or raise the cap`;
    ctx.addIssue({ code: "custom", path: ["restartMinMs"], message });
  }
});

export const opsSchema = z.strictObject({
  binary: z.string().default("/usr/local/bin/aideazz").describe(
    "Path of the aideazz binary on the VM (the units' ExecStart)",
  ),
  recycle: recycleSchema.prefault({}),
  llama: llamaSchema.optional().describe(
    "The llama.cpp sidecar: `aideazz systemd render` configures its unit and `aideazz health` checks it",
  ),
  health: healthSchema.prefault({}),
  restart: restartSchema.prefault({}),
  up: upSchema.prefault({}),
}).describe("How aideazz runs on the VM: systemd units, health checks, restarts and `aideazz up`");

export type OpsConfig = z.infer<typeof opsSchema>;

/** Per-agent additions to `limits` (merged into the agent schema's limits in config.ts). */
export const agentOpsLimits = {
  tasksMax: z.number().int().positive().optional().describe(
    "TasksMax of the agent's unit (default 256: Deno's thread pools)",
  ),
  recycleAfterSec: seconds.optional().describe(
    "This agent's recycle age (overrides ops.recycle.afterSec; 0 = never)",
  ),
};
