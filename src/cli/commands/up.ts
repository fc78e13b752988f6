import { secretValues } from "../../config.ts";
import { createLogger } from "../../log.ts";
import { agentUnit, type ChildSpec, createSupervisor, nicesOf, readVmRss, toBytes } from "../../ops/mod.ts";
import type { StopSignal } from "../../platform.ts";
import { defineCommand } from "../command.ts";
import { readConfig, stringOption } from "../context.ts";

export const upCommand = defineCommand({
  name: "up",
  summary: "run every configured agent as a child process (development, demos); Ctrl-C stops them all",
  async run({ values, deps }) {
    // Each agent checks its own secrets when it starts; one agent's missing secret must not stop the others.
    const { config, path } = await readConfig(values, deps, []);
    const up = config.ops.up;
    const [command, ...prefix] = deps.selfCommand();
    const db = stringOption(values, "db");
    // The units' CPU weights as nice values: here the agents share one cgroup.
    const nices = nicesOf(config.agents);
    const specs: ChildSpec[] = config.agents.map((a) => ({
      name: a.name,
      unit: agentUnit(a.name),
      command: command!,
      args: [...prefix, "agent", a.name, "--config", path, ...(db ? ["--db", db] : [])],
      memoryMaxBytes: up.enforceMemory ? toBytes(a.limits?.memoryMax ?? "256M") : undefined,
      nice: nices.get(a.name),
    }));
    const width = Math.max(2, ...specs.map((s) => s.name.length));
    const log = createLogger({
      agent: "up",
      secrets: secretValues(config, deps.env),
      write: (line) => deps.stdout(`${"up".padEnd(width)} | ${line}`),
      now: deps.now,
    });
    const supervisor = createSupervisor(specs, {
      policy: {
        minIntervalMs: up.restartMinMs,
        maxIntervalMs: up.restartMaxMs,
        maxPerHour: up.maxRestartsPerHour,
      },
      stopTimeoutMs: up.stopTimeoutMs,
      memoryPollMs: up.enforceMemory ? 500 : 0,
    }, {
      spawn: deps.spawn,
      env: deps.env,
      now: deps.now,
      readRss: readVmRss,
      log,
      write: deps.stdout,
    });
    let off = () => {};
    const signalled = new Promise<StopSignal>((resolve) => (off = deps.onStopSignal(resolve)));
    log.info("starting agents", { agents: specs.map((s) => s.name), config: path });
    supervisor.start();
    const outcome = await Promise.race([signalled, supervisor.settled]);
    // The listeners stay until the agents are stopped: a second signal (Ctrl-C under npm reaches `up` twice, from
    // the terminal and from npm) is ignored instead of killing `up` in the middle of the stop.
    try {
      if (outcome === "failed" || outcome === "stopped") {
        if (outcome === "failed") {
          log.error("no agent is running: every agent failed or stopped (see the lines above)");
        }
        await supervisor.stop();
        return outcome === "failed" ? 1 : 0;
      }
      log.info("stopping all agents", { signal: outcome, timeoutMs: up.stopTimeoutMs });
      await supervisor.stop();
      log.info("all agents stopped");
      return 0;
    } finally {
      off();
    }
  },
});
