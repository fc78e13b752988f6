// The benchmark and the soak run the agents as users do: each at the CPU priority its systemd unit gives it
// (src/ops/priority.ts). Without systemd they share one cgroup, so the units' weights become nice values.
import { getPriority } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../../bench/system/cluster.ts";
import { threadNices } from "../../bench/system/profile.ts";
import { tempDir } from "../support/tmp.ts";

let cluster: Cluster;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir("aideazz-priority-"));
  cluster = await startCluster({ dir, telegram: 1, whatsapp: 1, faq: [] });
  await cluster.startAll();
}, 120_000);

afterAll(async () => {
  await cluster?.close();
  await cleanup?.();
});

describe("the benchmark cluster's CPU priorities", () => {
  it("channels at nice 0, the orchestrator and analytics at nice 5 (CPUWeight 100 against 300), every thread", async () => {
    const nice: Record<string, number[]> = {};
    for (const [name, agent] of cluster.agents) {
      nice[name] = await threadNices(agent.pid()!);
    }
    const own = getPriority(); // `nice -n` is relative to the caller's
    const lower = Math.min(19, own + 5);
    expect(nice).toEqual({ tg1: [own], wa1: [own], orchestrator: [lower], analytics: [lower] });
  });
});
