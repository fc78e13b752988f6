// `aideazz health` checks that the /health answering on an agent's port is that agent's: after a rename in the
// config the old unit may still hold the port, and its uptime and memory must not be reported as the new agent's.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { checkHealth, probe, rollingRestart, RollingRestartError } from "../../src/ops/mod.ts";
import { diskSpace, fileSize, sleep } from "../../src/platform.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-twice-health-")));
afterAll(() => cleanup());

describe("aideazz health and a port answered by another agent", () => {
  it("an agent whose port is held by a process of another name (an old unit after a rename) is not reported ok", async () => {
    const port = await freePort();
    const db = `file:${join(dir, "h.db")}`;
    // What runs: the agent as it was configured before ("stats"), still under its old unit.
    const before = loadConfig(JSON.stringify({ store: { url: db }, agents: [{ name: "stats", kind: "analytics", port }] }), {});
    const old: RunningAgent = await runTestAgent({ config: before, name: "stats", secrets: {} });
    try {
      // The config now: the same agent renamed "dashboard" on the same port; aideazz-agent@dashboard cannot bind it.
      const now = loadConfig(
        JSON.stringify({ store: { url: db }, agents: [{ name: "dashboard", kind: "analytics", port }] }),
        {},
      );
      const report = await checkHealth(now, {
        fetch: globalThis.fetch.bind(globalThis),
        now: Date.now,
        sleep,
        diskSpace,
        fileSize,
        store: { error: "not under test" },
        busStats: undefined,
      });
      const target = report.targets.find((t) => t.target === "dashboard")!;
      // The /health that answered says agent "stats": "dashboard" itself is not running.
      expect(target.level, `dashboard reported: ${JSON.stringify(target)}`).toBe("down");
      expect(target.detail).toBe(
        `port ${port} answers as agent "stats", not "dashboard": another process holds its port (an old unit still running?)`,
      );
      expect(target.uptimeSec).toBeUndefined();
      expect(report.checks.find((c) => c.name === "memory dashboard")).toBeUndefined();
    } finally {
      await old.stop();
    }
  });
});

describe("aideazz systemd restart and a port answered by another agent", () => {
  it("the roll stops at an agent whose port is answered by another agent: it is not running, not healthy", async () => {
    const port = await freePort();
    const db = `file:${join(dir, "roll.db")}`;
    const before = loadConfig(
      JSON.stringify({ store: { url: db }, agents: [{ name: "stats", kind: "analytics", port }] }),
      {},
    );
    const old: RunningAgent = await runTestAgent({ config: before, name: "stats", secrets: {} });
    try {
      // The renamed agent's unit restarts, but cannot bind its port: the old unit's "stats" answers there, 200.
      const restarted: string[] = [];
      const err = await rollingRestart(
        [
          { name: "dashboard", unit: "aideazz-agent@dashboard.service", healthUrl: `http://127.0.0.1:${port}/health` },
          { name: "web", unit: "aideazz-agent@web.service", healthUrl: "http://127.0.0.1:1/health" },
        ],
        { waitHealthyMs: 2_000, pollMs: 200 },
        {
          manager: {
            status: () => Promise.reject(new Error("not used")),
            resetFailed: () => Promise.resolve(),
            restart: (unit) => Promise.resolve(void restarted.push(unit)),
          },
          probe: (url) =>
            probe(url, { fetch: globalThis.fetch.bind(globalThis), timeoutMs: 2_000, now: Date.now, sleep, attempts: 1 }),
          now: Date.now,
          sleep,
          log: createLogger({ agent: "test", secrets: [], write: () => {} }),
        },
      ).catch((e) => e);
      expect(err).toBeInstanceOf(RollingRestartError);
      expect(err.message).toContain('rolling restart stopped at agent "dashboard"');
      expect(err.message).toContain(`port ${port} answers as agent "stats"`);
      expect(restarted).toEqual(["aideazz-agent@dashboard.service"]);
    } finally {
      await old.stop();
    }
  });
});
