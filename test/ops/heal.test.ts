// RELIABILITY.md E4: after StartLimitBurst the health job runs reset-failed + restart with a growing back-off,
// never faster than its minimum interval, and records each restart (store + journal line). Driven by a
// recording ServiceManager that behaves like systemd, a real store, and a clock the test moves.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Config, loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import {
  createRestartLog,
  heal,
  type HealthReport,
  type RestartLog,
  type TargetState,
} from "../../src/ops/mod.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { createFakeSystemd } from "./fake-manager.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-heal-")));
afterAll(() => cleanup());

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);

function config(extra: Record<string, unknown> = {}): Config {
  return loadConfig(
    JSON.stringify({
      agents: [{ name: "bot", kind: "analytics", port: 9101 }, {
        name: "other",
        kind: "analytics",
        port: 9102,
      }],
      ...extra,
    }),
    {},
    [],
  );
}

function report(at: number, bot: Partial<TargetState>): HealthReport {
  const targets: TargetState[] = [
    {
      kind: "agent",
      target: "bot",
      unit: "aideazz-agent@bot.service",
      level: "down",
      detail: "connection refused",
      ...bot,
    },
    {
      kind: "agent",
      target: "other",
      unit: "aideazz-agent@other.service",
      level: "ok",
      detail: "up",
      uptimeSec: 100,
    },
  ];
  return { at, status: "down", targets, checks: [] };
}

async function openLog(name: string): Promise<{ store: Store; restarts: RestartLog }> {
  const store = await openStore({ url: `file:${join(dir, `${name}.db`)}` });
  await migrate(store.client);
  return { store, restarts: createRestartLog(store.client) };
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  let t = T0;
  const log = createLogger({
    agent: "health",
    secrets: [],
    write: (l) => lines.push(JSON.parse(l)),
    now: () => t,
  });
  return { lines, log, setNow: (v: number) => (t = v) };
}

describe("health --restart (E4)", () => {
  it("a store that refuses to record a restart gets no restart: the back-off it keeps is not lost (disk full)", async () => {
    let now = T0;
    const unit = "aideazz-agent@bot.service";
    const systemd = createFakeSystemd(() => now, () => ({ active: "failed", sub: "failed", result: "start-limit-hit" }));
    systemd.units.set(unit, { active: "failed", sub: "failed", result: "start-limit-hit" });
    const { store, restarts } = await openLog("store-full");
    let full = true; // reads work, writes fail, as on a full disk
    const refusing: RestartLog = {
      ...restarts,
      claim: (r, quietMs) => full ? Promise.reject(Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" })) : restarts.claim(r, quietMs),
    };
    const { lines, log, setNow } = capture();
    const cfg = config();
    const run = async (minutes: number) => {
      for (const end = now + minutes * MIN; now < end; now += MIN) {
        setNow(now);
        await heal(report(now, {}), cfg, { manager: systemd, restarts: refusing, log, now: () => now });
      }
    };
    await run(60);
    expect(systemd.calls.filter((c) => c.op === "restart")).toHaveLength(0);
    expect(lines.find((l) => l["msg"] === "not restarting")?.["reason"]).toMatch(/^cannot record the restart in the store \(SQLITE_FULL\)/);
    full = false; // the operator freed space: restarts resume, with their back-off
    await run(10);
    expect(systemd.calls.filter((c) => c.op === "restart").map((c) => (c.at - T0) / MIN)).toEqual([60, 61, 63, 67]);
    expect((await restarts.list()).map((r) => r.ok)).toEqual([true, true, true, true]);
    store.close();
  });

  it("a crash loop that hits the start limit gets reset-failed + restart with a growing back-off, recorded", async () => {
    let now = T0;
    const unit = "aideazz-agent@bot.service";
    // The unit crash-loops: every restart ends in start-limit-hit again (systemd's 5 quick restarts).
    const systemd = createFakeSystemd(
      () => now,
      () => ({ active: "failed", sub: "failed", result: "start-limit-hit" }),
    );
    systemd.units.set(unit, { active: "failed", sub: "failed", result: "start-limit-hit" });
    const { store, restarts } = await openLog("crash-loop");
    const { lines, log, setNow } = capture();
    const cfg = config();
    // The timer runs the health job every minute for three hours.
    for (now = T0; now <= T0 + 180 * MIN; now += MIN) {
      setNow(now);
      await heal(report(now, {}), cfg, { manager: systemd, restarts, log, now: () => now });
    }
    const restartTimes = systemd.calls.filter((c) => c.op === "restart").map((c) => (c.at - T0) / MIN);
    expect(restartTimes.slice(0, 6)).toEqual([0, 1, 3, 7, 15, 60]);
    const gaps = restartTimes.slice(1).map((t, i) => t - restartTimes[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1); // never faster than the minimum interval (60 s)
    for (const t of restartTimes) {
      expect(restartTimes.filter((r) => r > t - 60 && r <= t).length).toBeLessThanOrEqual(5);
    }
    // reset-failed first, every time (the start limit was hit), then restart.
    const ops = systemd.calls.filter((c) => c.op !== "status").map((c) => c.op);
    expect(ops.slice(0, 4)).toEqual(["reset-failed", "restart", "reset-failed", "restart"]);
    expect(ops.filter((o) => o === "reset-failed").length).toBe(restartTimes.length);
    // Recorded in the store with the reason, and in the journal.
    const rows = (await restarts.list({ limit: 1000 })).reverse();
    expect(rows.map((r) => (r.at - T0) / MIN)).toEqual(restartTimes);
    expect(rows[0]).toMatchObject({
      target: "bot",
      unit,
      kind: "failure",
      action: "reset-failed+restart",
      ok: true,
      reason: "down: connection refused; unit failed/failed, last result start-limit-hit",
    });
    expect(lines.filter((l) => l["msg"] === "restarted")).toHaveLength(restartTimes.length);
    expect(lines.find((l) => l["msg"] === "not restarting")?.["reason"]).toMatch(
      /^back-off 120 s after restart 2 this hour; next attempt after 2026-01-01T00:03:00.000Z$/,
    );
    expect(lines.some((l) => String(l["reason"]).includes("restarts in the last hour (ceiling 5)"))).toBe(
      true,
    );
    store.close();
  });

  it("a stalled agent (unit active, /health silent) is restarted without reset-failed; a just-started one is left alone", async () => {
    let now = T0;
    const unit = "aideazz-agent@bot.service";
    const systemd = createFakeSystemd(
      () => now,
      () => ({ active: "active", sub: "running", result: "success", since: now }),
    );
    systemd.units.set(unit, { active: "active", sub: "running", result: "success", since: T0 - 10 * MIN });
    const { store, restarts } = await openLog("stalled");
    const { log } = capture();
    const down = { detail: "no answer within 8 s" };
    const first = await heal(report(now, down), config(), {
      manager: systemd,
      restarts,
      log,
      now: () => now,
    });
    expect(first).toEqual([expect.objectContaining({ target: "bot", action: "restart", ok: true })]);
    expect(systemd.calls.map((c) => c.op)).toEqual(["status", "restart"]);
    now += 10_000; // 10 s after the restart it still does not answer: it is starting, give it time
    const second = await heal(report(now, down), config(), {
      manager: systemd,
      restarts,
      log,
      now: () => now,
    });
    expect(second[0]).toMatchObject({
      action: "skip",
      reason: "started 10 s ago; giving it time to come up",
    });
    expect((await restarts.list())[0]).toMatchObject({
      reason: "down: no answer within 8 s; unit active/running, last result success",
    });
    store.close();
  });

  it("two overlapping runs (the timer's and an operator's `health --restart`) restart a stalled agent once", async () => {
    const now = T0;
    const unit = "aideazz-agent@bot.service";
    const systemd = createFakeSystemd(
      () => now,
      () => ({ active: "active", sub: "running", result: "success", since: now }),
    );
    systemd.units.set(unit, { active: "active", sub: "running", result: "success", since: T0 - 10 * MIN });
    // `systemctl restart` waits for the graceful stop and the start: the other run reads the history then.
    const restart = systemd.restart.bind(systemd);
    systemd.restart = async (u) => {
      await new Promise((r) => setTimeout(r, 50));
      return restart(u);
    };
    // Two processes: two connections to the one database.
    const a = await openLog("overlap");
    const b = await openLog("overlap");
    const { lines, log } = capture();
    const down = report(now, { detail: "no answer within 8 s" });
    const [first, second] = await Promise.all([
      heal(down, config(), { manager: systemd, restarts: a.restarts, log, now: () => now }),
      heal(down, config(), { manager: systemd, restarts: b.restarts, log, now: () => now }),
    ]);
    // Restarted again during its start, it would also count twice in the hour's back-off and ceiling.
    expect(systemd.calls.filter((c) => c.op === "restart")).toHaveLength(1);
    expect(await a.restarts.failureTimes("bot", 0)).toEqual([now]);
    expect([...first!, ...second!].map((x) => x.action).sort()).toEqual(["restart", "skip"]);
    expect(lines.find((l) => l["msg"] === "not restarting")?.["reason"]).toBe(
      "another health run restarted it since this run read the back-off",
    );
    a.store.close();
    b.store.close();
  });

  it("leaves alone what systemd is restarting and what an operator stopped; records a failed restart", async () => {
    const now = T0;
    const unit = "aideazz-agent@bot.service";
    const systemd = createFakeSystemd(
      () => now,
      () => ({ active: "active", sub: "running", result: "success", since: now }),
    );
    const { store, restarts } = await openLog("states");
    const { log } = capture();
    const deps = { manager: systemd, restarts, log, now: () => now };
    systemd.units.set(unit, { active: "activating", sub: "auto-restart", result: "exit-code" });
    expect((await heal(report(now, {}), config(), deps))[0]).toMatchObject({
      action: "skip",
      reason: "systemd is already on it (activating/auto-restart)",
    });
    systemd.units.set(unit, { active: "inactive", sub: "dead", result: "success" });
    expect((await heal(report(now, {}), config(), deps))[0]?.reason).toMatch(/stopped \(inactive\)/);
    expect(systemd.calls.filter((c) => c.op !== "status")).toEqual([]);
    // A failed unit whose restart systemd refuses: recorded as not ok.
    systemd.units.set(unit, { active: "failed", sub: "failed", result: "exit-code" });
    systemd.restart = () => Promise.reject(new Error("Job for aideazz-agent@bot.service failed"));
    const [a] = await heal(report(now, {}), config(), deps);
    expect(a).toMatchObject({
      action: "restart",
      ok: false,
      detail: "Job for aideazz-agent@bot.service failed",
    });
    expect((await restarts.list())[0]).toMatchObject({
      ok: false,
      detail: "Job for aideazz-agent@bot.service failed",
    });
    store.close();
  });

  it("the llama.cpp sidecar is restarted only when ops.llama makes its unit ours", async () => {
    const now = T0;
    const systemd = createFakeSystemd(
      () => now,
      () => ({ active: "active", sub: "running", result: "success", since: now }),
    );
    systemd.units.set("aideazz-llama.service", { active: "failed", sub: "failed", result: "exit-code" });
    const { store, restarts } = await openLog("llama");
    const { log } = capture();
    const llamaDown: HealthReport = {
      at: now,
      status: "down",
      checks: [],
      targets: [{
        kind: "sidecar",
        target: "llama",
        unit: "aideazz-llama.service",
        level: "down",
        detail: "connection refused",
      }],
    };
    const deps = { manager: systemd, restarts, log, now: () => now };
    expect(await heal(llamaDown, config(), deps)).toEqual([]);
    const withLlama = config({ ops: { llama: { url: "http://127.0.0.1:8090" } } });
    expect(await heal(llamaDown, withLlama, deps)).toEqual([
      expect.objectContaining({ target: "llama", action: "restart", ok: true }),
    ]);
    store.close();
  });
});
