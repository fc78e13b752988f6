/**
 * `limits.memoryMax` "0M" and `limits.cpuQuota` "0%" are refused: systemd ignores them (no limit at all), while
 * `aideazz health` would read "0M" as 0 bytes (every idle agent degraded at Infinity %) and `aideazz up` would kill
 * the agent at its first RSS poll. Memory limits far below an idle agent's ~80 MiB are refused too (at least 64M).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, loadConfig } from "../../src/config.ts";
import { renderSystemd } from "../../src/ops/mod.ts";
import { hasSystemdAnalyze, makeRoot, verify } from "../ops/systemd-analyze.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-limits-zero-")));
afterAll(async () => {
  await cleanup();
});

const withLimits = (limits: Record<string, unknown>) => ({
  agents: [{ name: "webchat", kind: "webchat", port: 9102, limits }],
});

function issuesOf(config: unknown): ConfigIssue[] {
  try {
    loadConfig(JSON.stringify(config), {}, []);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe("agent limits systemd would ignore", () => {
  it('`config check` refuses limits.memoryMax "0M", naming the field', async () => {
    const path = join(dir, "aideazz.json");
    await writeFile(path, JSON.stringify(withLimits({ memoryMax: "0M" })));
    const checked = await cli(["config", "check", "--config", path]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain("agents[0].limits.memoryMax");
  }, 30_000);

  it('"0%", "0M" and sizes below 64M are refused; memoryHigh too', () => {
    const issues = issuesOf(withLimits({ memoryMax: "0M", memoryHigh: "65535K", cpuQuota: "0%" }));
    expect(issues.map((i) => i.path).sort()).toEqual([
      "agents[0].limits.cpuQuota",
      "agents[0].limits.memoryHigh",
      "agents[0].limits.memoryMax",
    ]);
  });

  it.runIf(hasSystemdAnalyze())(
    'the lowest accepted limits ("64M", "1%") render units systemd takes whole',
    async () => {
      const config = loadConfig(JSON.stringify(withLimits({ memoryMax: "64M", cpuQuota: "1%" })), {}, []);
      const files = renderSystemd(config, "/etc/aideazz/aideazz.json");
      const root = await makeRoot(join(dir, "root"), files, [
        "/usr/local/bin/aideazz",
        "/usr/local/bin/llama-server",
      ]);
      expect(verify(root, "aideazz-agent@webchat.service")).toEqual({ code: 0, output: "" });
    },
  );
});
