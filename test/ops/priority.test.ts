import { spawn } from "node:child_process";
import { getPriority } from "node:os";
import process from "node:process";
import { describe, expect, it } from "vitest";
import { threadCpu, threadNices } from "../../bench/system/profile.ts";
import { loadConfig } from "../../src/config.ts";
import { cpuWeightOf, niced, nicesOf } from "../../src/ops/priority.ts";

describe("CPU priority between agents", () => {
  const config = loadConfig(
    JSON.stringify({
      agents: [
        { name: "web", kind: "webchat", port: 9001 },
        { name: "orchestrator", kind: "orchestrator", port: 9002 },
        { name: "analytics", kind: "analytics", port: 9003 },
        { name: "reports", kind: "analytics", port: 9004, limits: { cpuWeight: 600 } },
      ],
    }),
    {},
  );

  it("gives channel agents three times the weight of the orchestrator and analytics; limits.cpuWeight overrides", () => {
    expect(config.agents.map((a) => [a.name, cpuWeightOf(a)])).toEqual([
      ["web", 300],
      ["orchestrator", 100],
      ["analytics", 100],
      ["reports", 600],
    ]);
  });

  it("turns weights into nice increments against the largest (each step ×1.25), between 0 and 19", () => {
    expect(Object.fromEntries(nicesOf(config.agents))).toEqual({ web: 3, orchestrator: 8, analytics: 8, reports: 0 });
    const [web, orchestrator] = config.agents;
    expect(Object.fromEntries(nicesOf([web!, orchestrator!]))).toEqual({ web: 0, orchestrator: 5 }); // 1.25^5 ≈ 3.05
    const tiny = { name: "tiny", kind: "analytics" as const, limits: { ...web!.limits!, cpuWeight: 1 } };
    expect(nicesOf([{ ...tiny, name: "big", limits: { ...tiny.limits, cpuWeight: 10_000 } }, tiny]).get("tiny")).toBe(19);
  });

  it("starts a niced command with every one of its threads at that priority, under the command's own pid", async () => {
    expect(niced(0, "deno", ["run"])).toEqual(["deno", ["run"]]);
    const [command, args] = niced(5, process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
    const child = spawn(command, args);
    try {
      await new Promise((resolve) => child.once("spawn", resolve));
      let threads: { name: string; nice: number }[] = [];
      for (let i = 0; i < 100 && threads.length < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20)); // until node runs with its worker threads
        threads = [...(await threadCpu(child.pid!)).values()];
      }
      expect(threads.length).toBeGreaterThanOrEqual(5); // node's main thread, V8's and libuv's workers
      expect(await threadNices(child.pid!)).toEqual([Math.min(19, getPriority() + 5)]); // relative to ours
    } finally {
      child.kill();
    }
  });
});
