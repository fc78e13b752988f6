/**
 * The systemd unit files: the agent template, the llama.cpp sidecar, and the health job's service + timer.
 * `systemd/` in the repository holds them rendered with the defaults (a test keeps the two equal);
 * `aideazz systemd render` renders them for a config, plus per-agent drop-ins (dropins.ts).
 *
 * @module
 */
import { HARDENING, LOCALHOST_ONLY } from "./hardening.ts";
import { defaultMemoryHigh } from "./sizes.ts";

/** Seconds systemd waits after SIGTERM before SIGKILL: the agents' graceful-stop budget. */
export const STOP_TIMEOUT_SEC = 30;
/** systemd gives up restarting a unit after this many starts within START_LIMIT_INTERVAL_SEC (health resets it). */
export const START_LIMIT_BURST = 5;
export const START_LIMIT_INTERVAL_SEC = 300;
/** Seconds between a crash and systemd's own restart. */
export const RESTART_SEC = 5;
/** Default TasksMax of an agent: Deno's runtime and blocking-I/O thread pools, with room to spare. */
export const DEFAULT_TASKS_MAX = 256;

export interface LlamaUnitSettings {
  bin: string;
  model: string;
  host: string;
  port: number;
  threads: number;
  contextSize: number;
  embeddings: boolean;
  memoryMax: string;
  cpuQuota: string;
  /**
   * Whether llama-server listens on loopback only; then its network is limited to localhost. On another
   * address (a wildcard, the VM's private one) it is there to be reached from elsewhere.
   */
  localOnly: boolean;
}

export interface UnitSettings {
  /** The aideazz binary on the VM. */
  binary: string;
  /** The config file on the VM (AIDEAZZ_CONFIG). */
  configPath: string;
  /** EnvironmentFile with the secrets (mode 0600, owned by root). */
  secretsFile: string;
  /**
   * Whether the health job reaches everything it checks on loopback: false for a libSQL server store, or an agent or
   * the llama.cpp sidecar on another address; then its network is not limited to localhost.
   */
  localOnly: boolean;
  /** Template defaults; each agent's drop-in overrides them. */
  agentDefaults: {
    memoryHigh: string;
    memoryMax: string;
    cpuQuota: string;
    runtimeMaxSec: number;
    jitterSec: number;
  };
  llama: LlamaUnitSettings;
}

export const DEFAULT_UNIT_SETTINGS: UnitSettings = {
  binary: "/usr/local/bin/aideazz",
  configPath: "/etc/aideazz/aideazz.json",
  secretsFile: "/etc/aideazz/secrets.env",
  localOnly: true,
  agentDefaults: {
    memoryHigh: defaultMemoryHigh("256M"),
    memoryMax: "256M",
    cpuQuota: "50%",
    runtimeMaxSec: 25_200,
    jitterSec: 300,
  },
  llama: {
    bin: "/usr/local/bin/llama-server",
    model: "/var/lib/aideazz/models/model.gguf",
    host: "127.0.0.1",
    port: 8090,
    threads: 2,
    contextSize: 4_096,
    embeddings: false,
    memoryMax: "6G",
    cpuQuota: "200%",
    localOnly: true,
  },
};

export const AGENT_TEMPLATE = "aideazz-agent@.service";
export const LLAMA_UNIT = "aideazz-llama.service";
export const HEALTH_SERVICE = "aideazz-health.service";
export const HEALTH_TIMER = "aideazz-health.timer";

/** The unit name of an agent: `aideazz-agent@<name>.service`. */
export function agentUnit(name: string): string {
  return `aideazz-agent@${name}.service`;
}

const HEADER =
  "# Rendered by `aideazz systemd render`; edit the config and render again instead of editing this file.";
/** The only directory the units let an agent write (ProtectSystem=strict; /tmp is private to each unit). */
export const STATE_DIRECTORY = "/var/lib/aideazz";
const STATE = ["StateDirectory=aideazz", "StateDirectoryMode=0750", `WorkingDirectory=${STATE_DIRECTORY}`];

function file(sections: (string | readonly string[])[]): string {
  return sections.flat().join("\n") + "\n";
}

/** The agent template: `systemctl start aideazz-agent@analytics` runs `aideazz agent analytics`. */
export function agentTemplate(s: UnitSettings): string {
  const d = s.agentDefaults;
  return file([
    "# One aideazz agent per instance: the instance name is the agent's name in the config.",
    HEADER,
    "[Unit]",
    "Description=aideazz agent %i",
    "After=network-online.target aideazz-llama.service",
    "Wants=network-online.target",
    `# After ${START_LIMIT_BURST} starts in ${START_LIMIT_INTERVAL_SEC} s systemd stops restarting; aideazz-health.timer then runs`,
    "# reset-failed + restart with a growing back-off.",
    `StartLimitIntervalSec=${START_LIMIT_INTERVAL_SEC}`,
    `StartLimitBurst=${START_LIMIT_BURST}`,
    "",
    "[Service]",
    "Type=exec",
    "User=aideazz",
    "Group=aideazz",
    environment("AIDEAZZ_CONFIG", s.configPath),
    `EnvironmentFile=${s.secretsFile}`,
    `ExecStart=${quoted(s.binary)} agent %i`,
    STATE,
    "Restart=on-failure",
    `RestartSec=${RESTART_SEC}`,
    "# SIGTERM: the agent answers 503 + Retry-After, stops claiming, finishes or releases its leases, exits 0.",
    `TimeoutStopSec=${STOP_TIMEOUT_SEC}`,
    "KillMode=mixed",
    "# Limits: defaults here, each agent's own in aideazz-agent@<name>.service.d/limits.conf (from the config),",
    "# with its CPUWeight (channels 300, the orchestrator and analytics 100).",
    `MemoryHigh=${d.memoryHigh}`,
    `MemoryMax=${d.memoryMax}`,
    "MemorySwapMax=0",
    `CPUQuota=${d.cpuQuota}`,
    `TasksMax=${DEFAULT_TASKS_MAX}`,
    "# Recycling backstop: aideazz-health.timer recycles agents one at a time before this is reached.",
    `RuntimeMaxSec=${d.runtimeMaxSec > 0 ? d.runtimeMaxSec : "infinity"}`,
    `RuntimeRandomizedExtraSec=${d.jitterSec}`,
    HARDENING,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ]);
}

/**
 * A word of a unit line that may hold spaces, quotes, backslashes or "%" (a binary's path, a config path, a
 * model file): quoted, or systemd would split it at a space, and with "%" doubled, or it would expand it as a
 * specifier.
 */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&").replaceAll("%", "%%")}"`;
}

/** An `Environment=` line: the whole assignment is one quoted word. */
function environment(key: string, value: string): string {
  return `Environment=${quoted(`${key}=${value}`)}`;
}

/**
 * llama-server options the sidecar always runs with, before `$LLAMA_ARGS` (which may override them); the real-server
 * tests start it with them too. `--parallel 1`, one slot: the router gives up on a call it timed out at once, while
 * llama-server notices a dropped non-streamed request only about a second later; with several slots (its default)
 * the next call ran beside that orphan, overflowed their shared context (500 "Context size has been exceeded") and
 * went to the next, paid provider. With one slot it waits for the orphan to stop.
 */
export const LLAMA_SERVER_ARGS: readonly string[] = ["--parallel", "1"];

/** The llama.cpp sidecar (local model). */
export function llamaUnit(s: UnitSettings): string {
  const l = s.llama;
  return file([
    "# llama.cpp's llama-server: the local model the router falls back to (OpenAI-compatible API on LLAMA_HOST).",
    HEADER,
    "# Settings: LLAMA_MODEL (GGUF file), LLAMA_THREADS (CPU threads), LLAMA_CTX_SIZE (context tokens), LLAMA_PORT.",
    "# LLAMA_ARGS adds options: \"--embeddings\" serves /v1/embeddings (the router's semantic cache); llama-server's",
    "# manual says it then restricts itself to the embedding use case (use it with a dedicated embedding model).",
    "# --parallel 1: one request at a time, so a call the router gave up on stops before the next one starts.",
    "# Override in /etc/aideazz/llama.env or a drop-in; `aideazz systemd render` writes one from the config's ops.llama.",
    "[Unit]",
    "Description=llama.cpp server for aideazz",
    "After=network.target",
    `StartLimitIntervalSec=${START_LIMIT_INTERVAL_SEC}`,
    `StartLimitBurst=${START_LIMIT_BURST}`,
    "",
    "[Service]",
    "Type=exec",
    "User=aideazz",
    "Group=aideazz",
    environment("LLAMA_MODEL", l.model),
    `Environment=LLAMA_HOST=${l.host}`,
    `Environment=LLAMA_PORT=${l.port}`,
    `Environment=LLAMA_THREADS=${l.threads}`,
    `Environment=LLAMA_CTX_SIZE=${l.contextSize}`,
    `Environment=LLAMA_ARGS=${l.embeddings ? "--embeddings" : ""}`,
    "EnvironmentFile=-/etc/aideazz/llama.env",
    `ExecStart=${quoted(l.bin)} --model \${LLAMA_MODEL} --host \${LLAMA_HOST} --port \${LLAMA_PORT} --threads \${LLAMA_THREADS} --ctx-size \${LLAMA_CTX_SIZE} ${LLAMA_SERVER_ARGS.join(" ")} $LLAMA_ARGS`,
    STATE,
    "Restart=on-failure",
    `RestartSec=${RESTART_SEC}`,
    `TimeoutStopSec=${STOP_TIMEOUT_SEC}`,
    `MemoryMax=${l.memoryMax}`,
    "MemorySwapMax=0",
    `CPUQuota=${l.cpuQuota}`,
    "TasksMax=64",
    HARDENING,
    l.localOnly
      ? LOCALHOST_ONLY
      : ["# llama-server listens on an address other than loopback: network access is not limited to localhost."],
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ]);
}

/** The health job: checks everything and restarts failed agents (run by aideazz-health.timer). */
export function healthService(s: UnitSettings): string {
  return file([
    "# `aideazz health --restart`: checks every agent, the sidecar and the store; restarts failed agents through",
    "# systemctl (reset-failed first after a start-limit hit) with a growing back-off; recycles one old agent per run.",
    "# The unit shows failed when the last check was not healthy (exit 1 degraded, 2 down); details in its journal.",
    "# Cron instead of the timer (/etc/cron.d/aideazz-health):",
    `#   * * * * * aideazz flock -n /tmp/aideazz-health.lock env AIDEAZZ_CONFIG=${s.configPath} ${s.binary} health --restart`,
    HEADER,
    "[Unit]",
    "Description=aideazz health check and restarts",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=oneshot",
    "User=aideazz",
    "Group=aideazz",
    environment("AIDEAZZ_CONFIG", s.configPath),
    `EnvironmentFile=-${s.secretsFile}`,
    `ExecStart=${quoted(s.binary)} health --restart`,
    STATE,
    "# Restarts wait for each agent's graceful stop.",
    "TimeoutStartSec=600",
    "MemoryMax=256M",
    "CPUQuota=50%",
    "TasksMax=64",
    HARDENING,
    s.localOnly
      ? LOCALHOST_ONLY
      : ["# The store is a libSQL server, or an agent or the sidecar listens on another address: network access is not limited to localhost."],
  ]);
}

/**
 * Runs the health job a minute after the previous run ended (never two at once). `OnActiveSec=` starts the cycle
 * when the timer is enabled on a VM that booted long ago (`systemctl enable --now`): `OnBootSec=` is then in the past
 * and `OnUnitInactiveSec=` has no earlier run to count from, so without it nothing would run until the next reboot.
 */
export function healthTimer(): string {
  return file([
    "# Runs aideazz-health.service every minute (one minute after the previous run finished).",
    HEADER,
    "[Unit]",
    "Description=Run aideazz health --restart every minute",
    "",
    "[Timer]",
    "OnBootSec=2min",
    "# Enabled long after boot (enable --now, an upgrade): the first run a minute later; then one a minute after each.",
    "OnActiveSec=1min",
    "OnUnitInactiveSec=1min",
    "AccuracySec=5s",
    `Unit=${HEALTH_SERVICE}`,
    "",
    "[Install]",
    "WantedBy=timers.target",
  ]);
}

/**
 * Lets the health job (user aideazz) start, restart, stop and reset-failed the aideazz units — nothing else —
 * through polkit (/etc/polkit-1/rules.d/50-aideazz.rules).
 */
export function polkitRule(): string {
  return [
    "// Rendered by `aideazz systemd render --polkit DIR`: lets user aideazz manage aideazz units only.",
    "polkit.addRule(function (action, subject) {",
    '  if (action.id !== "org.freedesktop.systemd1.manage-units" || subject.user !== "aideazz") return polkit.Result.NOT_HANDLED;',
    '  var unit = action.lookup("unit") || "";',
    '  var verb = action.lookup("verb") || "";',
    '  var ours = /^aideazz-agent@[a-z][a-z0-9-]*\\.service$/.test(unit) || unit === "aideazz-llama.service";',
    '  var verbs = ["start", "stop", "restart", "try-restart", "reset-failed"];',
    "  return ours && verbs.indexOf(verb) >= 0 ? polkit.Result.YES : polkit.Result.NOT_HANDLED;",
    "});",
    "",
  ].join("\n");
}
