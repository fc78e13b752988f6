/**
 * Renders the systemd files for a config: the four units plus one limits drop-in per configured agent.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { llamaUrlOf } from "./health.ts";
import { probeHost } from "./probe.ts";
import { agentDropIn } from "./dropins.ts";
import { cpuWeightOf } from "./priority.ts";
import { recycleSchedule } from "./recycle.ts";
import { defaultMemoryHigh } from "./sizes.ts";
import {
  AGENT_TEMPLATE,
  agentTemplate,
  agentUnit,
  DEFAULT_UNIT_SETTINGS,
  HEALTH_SERVICE,
  HEALTH_TIMER,
  healthService,
  healthTimer,
  LLAMA_UNIT,
  llamaUnit,
  type UnitSettings,
} from "./units.ts";

export interface RenderedFile {
  /** Path relative to the output directory, e.g. `aideazz-agent@analytics.service.d/limits.conf`. */
  path: string;
  text: string;
}

/** The units rendered with `settings` (defaults: what `systemd/` in the repository holds). */
export function renderUnits(settings: UnitSettings = DEFAULT_UNIT_SETTINGS): RenderedFile[] {
  return [
    { path: AGENT_TEMPLATE, text: agentTemplate(settings) },
    { path: LLAMA_UNIT, text: llamaUnit(settings) },
    { path: HEALTH_SERVICE, text: healthService(settings) },
    { path: HEALTH_TIMER, text: healthTimer() },
  ];
}

/** Whether `host` (an IPv6 address with or without brackets) is this machine's loopback. */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "::1" || h === "localhost" || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Unit settings for a config loaded from `configPath` (the path the units pass as AIDEAZZ_CONFIG). */
export function unitSettingsOf(config: Config, configPath: string): UnitSettings {
  const llama = config.ops.llama;
  const url = llama ? new URL(llama.url) : undefined;
  const plan = recycleSchedule([{ name: "(template)" }], config.ops.recycle)[0]!;
  return {
    binary: config.ops.binary,
    configPath,
    secretsFile: DEFAULT_UNIT_SETTINGS.secretsFile,
    // The health job probes a wildcard bind on loopback (probeHost): such an agent or sidecar is local to it.
    localOnly: config.store.url.startsWith("file:") &&
      config.agents.every((a) => isLoopback(probeHost(a.host))) &&
      isLoopback(probeHost(new URL(llamaUrlOf(config) ?? "http://127.0.0.1").hostname)),
    agentDefaults: {
      memoryMax: "256M",
      memoryHigh: defaultMemoryHigh("256M"),
      cpuQuota: "50%",
      runtimeMaxSec: plan.runtimeMaxSec,
      jitterSec: config.ops.recycle.jitterSec,
    },
    llama: llama && url
      ? {
        bin: llama.bin,
        model: llama.model,
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
        threads: llama.threads,
        contextSize: llama.contextSize,
        embeddings: llama.embeddings,
        memoryMax: llama.memoryMax,
        cpuQuota: llama.cpuQuota,
        // Unlike the health job's probes, a sidecar bound to a wildcard address listens on every interface.
        localOnly: isLoopback(url.hostname),
      }
      : DEFAULT_UNIT_SETTINGS.llama,
  };
}

/** Every file `aideazz systemd render` writes for `config`. */
export function renderSystemd(config: Config, configPath: string): RenderedFile[] {
  const plan = recycleSchedule(
    config.agents.map((a) => ({ name: a.name, recycleAfterSec: a.limits?.recycleAfterSec })),
    config.ops.recycle,
  );
  const dropIns = config.agents.map((a, i): RenderedFile => ({
    path: `${agentUnit(a.name)}.d/limits.conf`,
    text: agentDropIn(a.name, { ...a.limits ?? { memoryMax: "256M", cpuQuota: "50%" }, cpuWeight: cpuWeightOf(a) }, plan[i]!),
  }));
  return [...renderUnits(unitSettingsOf(config, configPath)), ...dropIns];
}
