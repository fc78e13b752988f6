import { agentKinds, runAgent } from "../../agents/mod.ts";
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
    const running = await runAgent({
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
    });
    const { promise, resolve } = Promise.withResolvers<number>();
    const off = deps.onStopSignal((signal) => {
      log.info("signal received", { signal });
      running.stop().then(() => resolve(0), (err) => {
        log.error("stop failed", { err });
        resolve(1);
      });
    });
    const code = await promise;
    off();
    return code;
  },
});
