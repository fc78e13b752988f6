import { dirname, join, resolve } from "node:path";
import { createLogger } from "../../log.ts";
import {
  agentUnit,
  createSystemctl,
  HEALTH_TIMER,
  HIDDEN_HOMES,
  LLAMA_UNIT,
  polkitRule,
  probe,
  probeHost,
  renderSystemd,
  rollingRestart,
  RollingRestartError,
  type RollingStep,
  STATE_DIRECTORY,
} from "../../ops/mod.ts";
import { filePathOf } from "../../store/mod.ts";
import { defineCommand, UsageError } from "../command.ts";
import { readConfig, resolveDbUrl, stringOption } from "../context.ts";

export const systemdRenderCommand = defineCommand({
  name: "systemd render",
  summary: "write the systemd units and per-agent limit drop-ins for the configured agents",
  options: { out: { type: "string" }, polkit: { type: "string" } },
  optionHelp: [
    "--out DIR       where to write the units (default /etc/systemd/system)",
    "--polkit DIR    also write the polkit rule that lets the health job restart agents (e.g. /etc/polkit-1/rules.d)",
  ],
  async run({ values, deps }) {
    const { config, path } = await readConfig(values, deps, []);
    const out = stringOption(values, "out") ?? "/etc/systemd/system";
    const files = renderSystemd(config, path);
    const polkit = stringOption(values, "polkit");
    const rule = polkit === undefined ? undefined : join(polkit, "50-aideazz.rules");
    for (const f of files) await deps.writeTextFile(join(out, f.path), f.text);
    if (rule !== undefined) await deps.writeTextFile(rule, polkitRule());
    deps.stdout(`systemd render: wrote ${files.length + (rule ? 1 : 0)} files to ${out} (config ${path})\n`);
    for (const f of files) deps.stdout(`  ${f.path}\n`);
    if (rule !== undefined) deps.stdout(`  ${rule}\n`);
    const units = [
      ...config.agents.map((a) => agentUnit(a.name)),
      ...(config.ops.llama ? [LLAMA_UNIT] : []),
      HEALTH_TIMER,
    ];
    deps.stdout(`next: systemctl daemon-reload && systemctl enable --now ${units.join(" ")}\n`);
    // The units' agents cannot write a database elsewhere: they fail to start (or each use one in its own /tmp).
    const db = filePathOf(resolveDbUrl(config.store.url, dirname(path)));
    if (db !== undefined && !db.startsWith(`${STATE_DIRECTORY}/`)) {
      deps.stderr(
        `systemd render: store.url: ${db} is outside ${STATE_DIRECTORY}, the only directory the units let ` +
          `agents write; set it to "file:${STATE_DIRECTORY}/aideazz.db"\n`,
      );
    }
    // A llama-server built in a home directory (llama.cpp from source), a model or the config there: the units cannot
    // run or read it, and fail to start.
    const llama = config.ops.llama;
    const paths: [string, string][] = [
      ["--config", resolve(path)],
      ["ops.binary", config.ops.binary],
      ...(llama ? [["ops.llama.bin", llama.bin], ["ops.llama.model", llama.model]] satisfies [string, string][] : []),
    ];
    for (const [field, file] of paths) {
      const home = HIDDEN_HOMES.find((h) => file.startsWith(`${h}/`));
      if (home === undefined) continue;
      deps.stderr(
        `systemd render: ${field}: ${file} is under ${home}, which the units hide (ProtectHome=yes); ` +
          `move it elsewhere (e.g. /usr/local/bin, ${STATE_DIRECTORY}/models, /etc/aideazz) and render again\n`,
      );
    }
    return 0;
  },
});

function stepLine(s: RollingStep): string {
  return s.skipped
    ? `${s.name}: not restarted: ${s.skipped} (name it to start it)\n`
    : `${s.name}: restarted in ${s.restartMs} ms, healthy after ${s.healthyAfterMs} ms\n`;
}

export const systemdRestartCommand = defineCommand({
  name: "systemd restart",
  summary: "rolling restart: one agent at a time, each healthy again before the next (the update procedure)",
  args: "[agent...]",
  positionals: { min: 0, max: 64 },
  async run({ values, positionals, deps }) {
    const { config } = await readConfig(values, deps, []);
    const unknown = positionals.filter((n) => !config.agents.some((a) => a.name === n));
    if (unknown.length > 0) {
      const names = config.agents.map((a) => a.name).join(", ");
      throw new UsageError(
        `systemd restart: no agent named ${unknown.map((n) => `"${n}"`).join(", ")}; configured: ${names}`,
        systemdRestartCommand,
      );
    }
    const chosen = positionals.length === 0
      ? config.agents
      : config.agents.filter((a) => positionals.includes(a.name));
    const log = createLogger({ agent: "systemd", secrets: [], write: deps.stderr, now: deps.now });
    const timeoutMs = config.ops.health.timeoutMs;
    try {
      const steps = await rollingRestart(
        chosen.map((a) => ({
          name: a.name,
          unit: agentUnit(a.name),
          healthUrl: `http://${probeHost(a.host)}:${a.port}/health`,
        })),
        // Every agent: one an operator stopped stays stopped. One named here is started if stopped.
        // Healthy: 200 from one process for 10 s (systemd's RestartSec is 5 s: a crash in that time is seen).
        { waitHealthyMs: 120_000, pollMs: 500, settleMs: 10_000, skipStopped: positionals.length === 0 },
        {
          manager: createSystemctl(deps.run),
          probe: (url) =>
            probe(url, { fetch: deps.fetch, timeoutMs, now: deps.now, sleep: deps.sleep, attempts: 1 }),
          now: deps.now,
          sleep: deps.sleep,
          log,
        },
      );
      for (const s of steps) deps.stdout(stepLine(s));
      return 0;
    } catch (err) {
      if (!(err instanceof RollingRestartError)) throw err;
      for (const s of err.done) deps.stdout(stepLine(s));
      deps.stderr(`systemd restart: ${err.message}\n`);
      return 1;
    }
  },
});
