import { agentKinds, runAgent, type RunningAgent } from "../../agents/mod.ts";
import { findSecretRefs } from "../../config.ts";
import { VERSION } from "../../version.ts";
import { defineCommand } from "../command.ts";
import { commandLogger, readConfig, storeTargetOf } from "../context.ts";

export const agentCommand = defineCommand({
  name: "agent",
  summary: "run one configured agent until SIGTERM/SIGINT",
  args: "<name>",
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, deps }) {
    const name = positionals[0]!;
    const loaded = await readConfig(values, deps, [name]);
    const { config } = loaded;
    const agent = config.agents.find((a) => a.name === name);
    if (!agent) {
      deps.stderr(`agent: no agent named "${name}" in ${loaded.path}; configured: ${config.agents.map((a) => a.name).join(", ")}\n`);
      return 1;
    }
    const load = agentKinds[agent.kind];
    if (!load) {
      deps.stderr(`agent: kind "${agent.kind}" of agent "${name}" is not available in aideazz ${VERSION}\n`);
      return 1;
    }
    const index = config.agents.indexOf(agent);
    const secrets: Record<string, string> = {};
    for (const ref of findSecretRefs(config, deps.env)) {
      const own = ref.path.startsWith(`agents[${index}]`) || ref.path.startsWith("store") ||
        (agent.kind === "orchestrator" && (ref.path.startsWith("router") || ref.path.startsWith("cache")));
      if (own && ref.value) secrets[ref.envVar] = ref.value;
    }
    const log = commandLogger(deps, name, config);
    const { url: dbUrl, authToken: dbAuthToken } = storeTargetOf(values, deps, loaded);
    // Registered before the start: a SIGTERM while the agent waits for its store ends the wait (runAgent rejects).
    const stop = new AbortController();
    const off = deps.onStopSignal((signal) => {
      log.info("signal received", { signal });
      stop.abort();
    });
    try {
      let running: RunningAgent;
      try {
        running = await runAgent({
          agent,
          // deno-lint-ignore no-explicit-any -- agentKinds pairs each kind with its definition
          definition: (await load()) as any,
          config,
          dbUrl,
          ...(dbAuthToken ? { dbAuthToken } : {}),
          secrets,
          log,
          version: VERSION,
          now: deps.now,
          fetch: deps.fetch,
          serve: deps.serve,
          rssBytes: deps.rssBytes,
          compactHeap: deps.compactHeap,
          trimNativeHeap: deps.trimNativeHeap,
          pid: deps.pid,
          signal: stop.signal,
        });
      } catch (err) {
        if (err !== stop.signal.reason) throw err;
        log.info("agent stopped before it started");
        return 0;
      }
      if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener("abort", resolve, { once: true }));
      return await running.stop().then(() => 0, (err) => {
        log.error("stop failed", { err });
        return 1;
      });
    } finally {
      off();
    }
  },
});
