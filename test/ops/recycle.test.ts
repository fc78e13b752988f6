// RELIABILITY.md E5 (schedule and unit settings): periodic recycling never restarts two agents within 5 s.
// The health job recycles one agent per run, never within minGapSec of any (re)start; systemd's RuntimeMaxSec
// backstop is staggered per agent with RuntimeRandomizedExtraSec capped so agents started together stay apart.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import {
  createRestartLog,
  heal,
  type HealthReport,
  planRecycle,
  recycleSchedule,
  renderSystemd,
} from "../../src/ops/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { createFakeSystemd } from "./fake-manager.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-recycle-")));
afterAll(() => cleanup());

const settings = { afterSec: 21_600, spreadSec: 3_600, minGapSec: 60, backstopSec: 3_600, jitterSec: 300 };
const names = ["telegram-support", "telegram-leads", "whatsapp-1", "whatsapp-2", "orchestrator", "analytics"];

/** Seeded PRNG (mulberry32) so the simulation is reproducible. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe("recycling schedule (E5)", () => {
  it("staggers the agents' recycle ages across spreadSec and caps the backstop jitter", () => {
    const plan = recycleSchedule(names.map((name) => ({ name })), settings);
    expect(plan.map((p) => p.afterSec)).toEqual([21_600, 22_200, 22_800, 23_400, 24_000, 24_600]);
    expect(plan.map((p) => p.runtimeMaxSec)).toEqual([25_200, 25_800, 26_400, 27_000, 27_600, 28_200]);
    expect(new Set(plan.map((p) => p.jitterSec))).toEqual(new Set([300]));
    // 12 agents over one hour are 300 s apart: the jitter shrinks to 295 s so backstops stay ≥ 5 s apart.
    const many = recycleSchedule(Array.from({ length: 12 }, (_, i) => ({ name: `a${i}` })), settings);
    expect(many[0]!.jitterSec).toBe(295);
    // recycleAfterSec: 0 turns it off for one agent (RuntimeMaxSec=infinity in its drop-in).
    const off = recycleSchedule([{ name: "a" }, { name: "b", recycleAfterSec: 0 }], settings);
    expect(off[1]).toEqual({ agent: "b", afterSec: 0, runtimeMaxSec: 0, jitterSec: 0 });
  });

  it("backstops of agents started together never come within 5 s, whatever RuntimeRandomizedExtraSec draws", () => {
    const plans = [2, 6, 12, 30].map((n) => recycleSchedule(Array.from({ length: n }, (_, i) => ({ name: `a${i}` })), settings));
    // The same ages for all (spreadSec 0, a valid setting), or an agent's own age landing on another's staggered one.
    plans.push(recycleSchedule(names.map((name) => ({ name })), { ...settings, spreadSec: 0 }));
    plans.push(recycleSchedule([{ name: "a" }, { name: "b", recycleAfterSec: 19_800 }], settings)); // b: 19,800 + 1,800
    for (const [n, plan] of plans.entries()) {
      const rnd = prng(n + 1);
      for (let trial = 0; trial < 2_000; trial++) {
        // Extremes and random draws of each unit's extra delay in [0, jitter].
        const times = plan.map((p) =>
          p.runtimeMaxSec + (trial === 0 ? 0 : trial === 1 ? p.jitterSec : rnd() * p.jitterSec)
        ).sort((a, b) => a - b);
        for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(5);
      }
    }
  });

  it("the rendered drop-ins carry the staggered RuntimeMaxSec and the capped RuntimeRandomizedExtraSec", () => {
    const config = loadConfig(
      JSON.stringify({ agents: names.map((name, i) => ({ name, kind: "analytics", port: 9200 + i })) }),
      {},
      [],
    );
    const dropIns = renderSystemd(config, "/etc/aideazz/aideazz.json").filter((f) =>
      f.path.endsWith("limits.conf")
    );
    const max = dropIns.map((f) => Number(/^RuntimeMaxSec=(\d+)$/m.exec(f.text)![1]));
    const extra = dropIns.map((f) => Number(/^RuntimeRandomizedExtraSec=(\d+)$/m.exec(f.text)![1]));
    expect(max).toEqual([25_200, 25_800, 26_400, 27_000, 27_600, 28_200]);
    expect(extra).toEqual([300, 300, 300, 300, 300, 300]);
  });

  it("planRecycle picks the most overdue healthy agent, and nothing within minGap of the last start", () => {
    const c = [
      { agent: "a", uptimeSec: 30_000, healthy: true, afterSec: 21_600 },
      { agent: "b", uptimeSec: 40_000, healthy: false, afterSec: 21_600 },
      { agent: "c", uptimeSec: 25_000, healthy: true, afterSec: 22_200 },
    ];
    expect(planRecycle(c, { now: 1e9, lastRestartAt: undefined, minGapSec: 60 })).toBe("a");
    expect(planRecycle(c, { now: 1e9, lastRestartAt: 1e9 - 59_000, minGapSec: 60 })).toBeUndefined();
    expect(
      planRecycle(c.map((x) => ({ ...x, uptimeSec: 100 })), {
        now: 1e9,
        lastRestartAt: undefined,
        minGapSec: 60,
      }),
    ).toBeUndefined();
  });

  it("an agent whose memory nears its MemoryMax is recycled first, whatever its age; still one at a time", () => {
    const c = [
      { agent: "old", uptimeSec: 30_000, healthy: true, afterSec: 21_600 },
      { agent: "big", uptimeSec: 600, healthy: true, afterSec: 21_600, memoryHigh: true },
      { agent: "stalled", uptimeSec: 600, healthy: false, afterSec: 21_600, memoryHigh: true },
    ];
    expect(planRecycle(c, { now: 1e9, lastRestartAt: undefined, minGapSec: 60 })).toBe("big");
    expect(planRecycle(c, { now: 1e9, lastRestartAt: 1e9 - 30_000, minGapSec: 60 })).toBeUndefined();
    const never = c.map((x) => ({ ...x, afterSec: 0 })); // recycling by age turned off: memory still counts
    expect(planRecycle(never, { now: 1e9, lastRestartAt: undefined, minGapSec: 60 })).toBe("big");
    // Big again soon after its restart: not restarted in a loop (the old agent's age-based recycle goes ahead).
    const soon = c.map((x) => (x.agent === "big" ? { ...x, uptimeSec: 120 } : x));
    expect(planRecycle(soon, { now: 1e9, lastRestartAt: undefined, minGapSec: 60 })).toBe("old");
  });

  it("the health job recycles an agent over memoryWarnFraction of its MemoryMax, gracefully, saying why", async () => {
    const config = loadConfig(
      JSON.stringify({ agents: [{ name: "orch", kind: "orchestrator", port: 9300, limits: { memoryMax: "256M" } }] }),
      {},
      [],
    );
    const store = await openStore({ url: `file:${join(dir, "memory.db")}` });
    await migrate(store.client);
    const restarts = createRestartLog(store.client);
    const now = Date.UTC(2026, 0, 1);
    const restarted: string[] = [];
    const systemd = createFakeSystemd(() => now, (unit) => {
      restarted.push(unit);
      return { active: "active", sub: "running", result: "success", since: now };
    });
    const report: HealthReport = {
      at: now,
      status: "degraded",
      checks: [{ name: "memory orch", level: "degraded", detail: "240.0 MiB of MemoryMax 256M (94%)" }],
      targets: [{ kind: "agent", target: "orch", unit: "aideazz-agent@orch.service", level: "ok", detail: "up", uptimeSec: 600 }],
    };
    const log = createLogger({ agent: "health", secrets: [], write: () => {} });
    const actions = await heal(report, config, { manager: systemd, restarts, log, now: () => now });
    expect(restarted).toEqual(["aideazz-agent@orch.service"]);
    expect(actions).toEqual([expect.objectContaining({
      action: "recycle",
      reason: "recycle: memory 240.0 MiB of MemoryMax 256M (94%)",
      ok: true,
    })]);
    store.close();
  });

  it(
    "a week of health runs with random crashes: every agent is recycled, never two within 60 s of any start",
    async () => {
      const config = loadConfig(
        JSON.stringify({ agents: names.map((name, i) => ({ name, kind: "analytics", port: 9200 + i })) }),
        {},
        [],
      );
      const store = await openStore({ url: `file:${join(dir, "week.db")}` });
      await migrate(store.client);
      const restarts = createRestartLog(store.client);
      const log = createLogger({ agent: "health", secrets: [], write: () => {} });
      const T0 = Date.UTC(2026, 0, 1);
      let now = T0;
      const startedAt = new Map(names.map((n) => [n, T0])); // all start together at boot
      const starts: { at: number; agent: string; why: string }[] = [];
      const systemd = createFakeSystemd(() => now, (unit) => {
        const agent = unit.slice("aideazz-agent@".length, -".service".length);
        startedAt.set(agent, now);
        starts.push({ at: now, agent, why: "recycle" });
        return { active: "active", sub: "running", result: "success", since: now };
      });
      const rnd = prng(42);
      const WEEK = 7 * 24 * 3_600_000;
      let crashes = 0;
      for (now = T0; now < T0 + WEEK; now += 60_000) {
        // Crashes happen between runs (systemd restarts the agent itself, unseen by our restart log).
        for (const n of names) {
          if (rnd() < 1 / 3_000) {
            const at = now - Math.floor(rnd() * 60_000);
            startedAt.set(n, at);
            starts.push({ at, agent: n, why: "crash" });
            crashes++;
          }
        }
        const report: HealthReport = {
          at: now,
          status: "ok",
          checks: [],
          targets: names.map((n) => ({
            kind: "agent" as const,
            target: n,
            unit: `aideazz-agent@${n}.service`,
            level: "ok" as const,
            detail: "up",
            uptimeSec: Math.floor((now - startedAt.get(n)!) / 1000),
          })),
        };
        await heal(report, config, { manager: systemd, restarts, log, now: () => now });
      }
      const recycles = starts.filter((s) => s.why === "recycle");
      expect(crashes).toBeGreaterThan(5);
      expect(recycles.length).toBeGreaterThan(6 * 20); // ~6 h each over a week
      const all = [...starts].sort((a, b) => a.at - b.at);
      for (const r of recycles) {
        const neighbours = all.filter((s) => s !== r && s.at <= r.at && r.at - s.at < 60_000);
        expect(neighbours, `recycle of ${r.agent} at ${new Date(r.at).toISOString()}`).toEqual([]);
      }
      for (const n of names) {
        const mine = recycles.filter((r) => r.agent === n).length;
        expect(mine, n).toBeGreaterThanOrEqual(20);
      }
      expect((await restarts.list({ limit: 1 }))[0]).toMatchObject({ kind: "recycle", action: "recycle" });
      store.close();
    },
    120_000,
  );
});
