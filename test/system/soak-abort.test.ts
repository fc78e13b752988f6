// A soak its caller gives up on (a test's timeout, an operator's deadline) must not leave agents running: vitest
// ends a timed-out file's worker before the run's own `finally` could stop them, and they lived on as orphans.
// runSoak's `signal` stops every agent at once, none is started again, and the run rejects with the reason.
import process from "node:process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Cluster } from "../../bench/system/cluster.ts";
import { runSoak } from "../../bench/soak/soak.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-soak-abort-")));
afterAll(() => cleanup?.());

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("soak given up by its caller", () => {
  it("stops every agent, starts none again, and rejects with the reason", async () => {
    const controller = new AbortController();
    let cluster: Cluster | undefined;
    const pids: number[] = [];
    const started = Date.now();
    const run = runSoak({
      dir,
      messages: 400,
      chats: 4,
      seconds: 120,
      telegram: 1,
      whatsapp: 1,
      chaos: false,
      signal: controller.signal,
      afterStart(c) {
        cluster = c;
        for (const a of c.agents.values()) pids.push(a.pid()!);
        // Given up while messages are being injected.
        setTimeout(() => controller.abort(new Error("the caller gave up")), 2_000);
        return Promise.resolve();
      },
    });
    await expect(run).rejects.toThrow("the caller gave up");
    // Long before the run's own 120 s of injection.
    expect(Date.now() - started).toBeLessThan(90_000);
    expect(pids.length).toBeGreaterThanOrEqual(3); // the orchestrator, a Telegram and a WhatsApp agent at least
    expect(pids.every((pid) => pid > 0)).toBe(true);
    expect(pids.filter(alive)).toEqual([]);
    await expect(cluster!.start("orchestrator")).rejects.toThrow(/closed/);
    expect([...cluster!.agents.values()].map((a) => [a.name, a.pid(), a.starts()])).toEqual(
      [...cluster!.agents.values()].map((a) => [a.name, undefined, 1]),
    );
  }, 150_000);
});
