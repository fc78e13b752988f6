import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setPriority } from "node:os";
import { describe, expect, it } from "vitest";
import { parseProcStat } from "../../bench/system/measure.ts";
import { loadConfig } from "../../src/config.ts";
import { cpuWeightOf, niceFor } from "../../src/ops/priority.ts";

const niceOf = (pid: number) => parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8")).nice;

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

  it("turns weights into nice values for processes of one cgroup, never below 0 and never above 19", () => {
    expect(niceFor(300, 300)).toBe(0);
    expect(niceFor(100, 300)).toBe(5); // 1.25^5 ≈ 3.05
    expect(niceFor(600, 300)).toBe(0);
    expect(niceFor(1, 10_000)).toBe(19);
  });

  it("the nice value takes effect on a process this user started (no privileges needed)", async () => {
    const child = spawn("sleep", ["30"]);
    try {
      await new Promise((resolve) => child.once("spawn", resolve));
      setPriority(child.pid!, niceFor(100, 300));
      expect(niceOf(child.pid!)).toBe(5);
    } finally {
      child.kill();
    }
  });
});
