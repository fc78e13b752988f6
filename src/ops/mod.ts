/**
 * Operations: how aideazz lives on the VM. systemd units and per-agent drop-ins (`aideazz systemd render`),
 * health checks with flap-protected restarts and staggered recycling (`aideazz health [--restart]`), rolling
 * restarts, and the local supervisor behind `aideazz up`. Restart actions go through `ServiceManager`
 * (systemctl, the supervisor, or a test's recording fake).
 *
 * @example
 * ```ts
 * const report = await checkHealth(config, healthDeps);
 * const actions = await heal(report, config, { manager: createSystemctl(run), restarts: createRestartLog(client), log, now });
 * ```
 *
 * @module
 */
export { backoffMs, type BackoffPolicy, decideRestart, HOUR_MS, type RestartDecision } from "./backoff.ts";
export { type OpsConfig, opsSchema } from "./config.ts";
export { agentDropIn } from "./dropins.ts";
export { formatReport } from "./format.ts";
export { heal, type HealAction, type HealDeps, policyOf, START_GRACE_MS } from "./heal.ts";
export {
  type Check,
  checkHealth,
  exitCodeOf,
  type HealthDeps,
  type HealthReport,
  type Level,
  llamaUrlOf,
  redactReport,
  saveReport,
  type TargetState,
  worst,
} from "./health.ts";
export { cpuWeightOf, niced, nicesOf } from "./priority.ts";
export { probe, probeHost, type ProbeOptions, type ProbeResult } from "./probe.ts";
export { planRecycle, type RecyclePlanEntry, recycleSchedule, type RecycleSettings } from "./recycle.ts";
export { type RenderedFile, renderSystemd, renderUnits, unitSettingsOf } from "./render.ts";
export { createRestartLog, type RestartKind, type RestartLog, type RestartRecord } from "./restarts.ts";
export { rollingRestart, RollingRestartError, type RollingStep, type RollingTarget } from "./rolling.ts";
export { readVmRss } from "./rss.ts";
export {
  createSystemctl,
  isStartLimitHit,
  parseShow,
  type ServiceManager,
  ServiceManagerError,
  type UnitStatus,
} from "./service-manager.ts";
export { HIDDEN_HOMES } from "./hardening.ts";
export { toBytes } from "./sizes.ts";
export {
  type ChildSpec,
  createSupervisor,
  decideCrashRestart,
  type Supervisor,
  type SupervisorDeps,
  type SupervisorOptions,
} from "./supervisor.ts";
export {
  AGENT_TEMPLATE,
  agentUnit,
  DEFAULT_UNIT_SETTINGS,
  HEALTH_SERVICE,
  HEALTH_TIMER,
  LLAMA_UNIT,
  polkitRule,
  STATE_DIRECTORY,
  STOP_TIMEOUT_SEC,
  type UnitSettings,
} from "./units.ts";
