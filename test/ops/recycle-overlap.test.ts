// Two overlapping `aideazz health --restart` runs (the timer's and an operator's by hand) recycle an overdue agent
// once: the recycle is claimed in the store before the restart (a graceful stop takes up to TimeoutStopSec=30 s),
// as failure restarts are (restarts.claim), so the second run sees it.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createRestartLog, heal, type HealthReport, type ServiceManager } from "../../src/ops/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-review-ops2-")));
afterAll(() => cleanup());

const T0 = Date.UTC(2026, 0, 1);

describe("health --restart: overlapping runs and recycling", () => {
  it("two overlapping runs recycle an overdue agent once, not twice back to back", async () => {
    const config = loadConfig(
      JSON.stringify({
        agents: [{ name: "a", kind: "analytics", port: 9201 }, { name: "b", kind: "analytics", port: 9202 }],
        ops: { recycle: { afterSec: 3600, spreadSec: 0, minGapSec: 60 } },
      }),
      {},
      [],
    );
    const url = `file:${join(dir, "aideazz.db")}`;
    const first = await openStore({ url });
    await migrate(first.client);
    const second = await openStore({ url }); // the other run is another process: its own connection
    const restarts: string[] = [];
    let release = () => {};
    const stopped = new Promise<void>((r) => (release = r));
    // systemd: both units active for hours; a restart takes a while (graceful stop of up to 30 s).
    const manager: ServiceManager = {
      status: (unit) =>
        Promise.resolve({ unit, active: "active", sub: "running", result: "success", pid: 1, since: T0 - 7_200_000 }),
      resetFailed: () => Promise.resolve(),
      restart: async (unit) => {
        restarts.push(unit);
        await stopped;
      },
    };
    const report: HealthReport = {
      at: T0,
      status: "ok",
      checks: [],
      targets: [
        { kind: "agent", target: "a", unit: "aideazz-agent@a.service", level: "ok", detail: "up", uptimeSec: 7200 },
        { kind: "agent", target: "b", unit: "aideazz-agent@b.service", level: "ok", detail: "up", uptimeSec: 3000 },
      ],
    };
    const log = createLogger({ agent: "health", secrets: [], write: () => {}, now: () => T0 });
    const run = (client: typeof first.client, at: number) =>
      heal(report, config, { manager, restarts: createRestartLog(client), log, now: () => at });
    const timer = run(first.client, T0);
    await new Promise((r) => setTimeout(r, 200)); // the timer's run is in its restart (the graceful stop)
    const operator = run(second.client, T0 + 5_000); // the operator's run, 5 s later
    await new Promise((r) => setTimeout(r, 200));
    release();
    const [x, y] = await Promise.all([timer, operator]);
    first.close();
    second.close();
    expect([...x, ...y].filter((a) => a.action === "recycle").map((a) => a.target)).toEqual(["a"]);
    expect(restarts).toEqual(["aideazz-agent@a.service"]);
  });
});
