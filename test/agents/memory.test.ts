// Giving memory back: the heap compaction after start (scheduled once by the runtime) and the native heap trims
// (every interval while the agent runs), and what each gives back in a real Deno process.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCompactions, nextTrimDelayMs } from "../../src/agents/memory.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { sleep, trimNativeHeap } from "../../src/platform.ts";
import { V8_FLAGS_ARG } from "../../src/v8-flags.ts";
import { runTestAgent, type TestAgentOptions } from "../support/agent.ts";
import { denoBin, repoRoot, spawnAideazz, waitForStatus } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-memory-")));
afterAll(() => cleanup());

/** The runtime options these tests set (the RSS is 50 MB unless a test sets its own). */
type MemoryRuntime = Omit<NonNullable<TestAgentOptions["runtime"]>, "rssBytes"> & { rssBytes?: () => number };

async function startAnalytics(db: string, runtime: MemoryRuntime) {
  const port = await freePort();
  const config = loadConfig(
    JSON.stringify({ store: { url: `file:${join(dir, db)}` }, agents: [{ name: "analytics", kind: "analytics", port }] }),
    {},
  );
  const lines: Record<string, unknown>[] = [];
  const running = await runTestAgent({
    config,
    name: "analytics",
    secrets: {},
    log: createLogger({ agent: "analytics", secrets: [], write: (l) => lines.push(JSON.parse(l)) }),
    runtime: { rssBytes: () => 50 * 1024 * 1024, ...runtime },
  });
  return { running, lines };
}

describe("heap compaction after start", () => {
  it("runs once, after the delay, and logs the RSS before and after", async () => {
    let calls = 0;
    const { running, lines } = await startAnalytics("once.db", {
      compactHeap: () => (calls++, true),
      compactHeapAfterMs: 50,
    });
    try {
      expect(calls).toBe(0);
      for (let i = 0; i < 100 && calls === 0; i++) await sleep(20);
      await sleep(300);
      expect(calls).toBe(1);
      expect(lines.filter((l) => l["msg"] === "heap compacted")).toEqual([
        expect.objectContaining({ reason: "start", rssMbBefore: 50, rssMbAfter: 50, ms: expect.any(Number) }),
      ]);
    } finally {
      await running.stop();
    }
  });

  it("an agent stopped before the delay never compacts", async () => {
    let calls = 0;
    const { running, lines } = await startAnalytics("early.db", {
      compactHeap: () => (calls++, true),
      compactHeapAfterMs: 300,
    });
    await running.stop();
    await sleep(500);
    expect(calls).toBe(0);
    expect(lines.filter((l) => l["msg"] === "heap compacted")).toEqual([]);
  });

  it("a runtime without gc is asked once and logs nothing", async () => {
    let calls = 0;
    const { running, lines } = await startAnalytics("without.db", {
      compactHeap: () => (calls++, false),
      compactHeapAfterMs: 10,
    });
    try {
      for (let i = 0; i < 100 && calls === 0; i++) await sleep(20);
      expect(calls).toBe(1);
      expect(lines.filter((l) => l["msg"] === "heap compacted")).toEqual([]);
    } finally {
      await running.stop();
    }
  });

  it("a compaction that throws is logged, and the agent keeps serving", async () => {
    const { running, lines } = await startAnalytics("throws.db", {
      compactHeap: () => {
        throw new Error("no gc today");
      },
      compactHeapAfterMs: 10,
    });
    try {
      for (let i = 0; i < 100 && !lines.some((l) => l["msg"] === "heap compaction failed"); i++) await sleep(20);
      expect(lines.filter((l) => l["msg"] === "heap compaction failed")).toHaveLength(1);
      expect((await fetch(`http://127.0.0.1:${running.port}/health`)).status).toBe(200);
    } finally {
      await running.stop();
    }
  });

  it("a real agent under Deno with the production V8 flags gives memory back and trims its native heap", async () => {
    const port = await freePort();
    const config = join(dir, "real.json");
    await writeFile(
      config,
      JSON.stringify({
        store: { url: `file:${join(dir, "real.db")}` },
        agents: [{ name: "analytics", kind: "analytics", port }],
      }),
    );
    const child = spawnAideazz(["agent", "analytics", "--config", config]);
    try {
      await waitForStatus(`http://127.0.0.1:${port}/health`, 200, 60_000);
      let line: Record<string, number> | undefined;
      for (const deadline = Date.now() + 30_000; !line && Date.now() < deadline;) {
        await sleep(50);
        const complete = child.output().split("\n").slice(0, -1); // the last piece may be a line half written
        const found = complete.find((l) => l.includes('"heap compacted"'));
        line = found ? JSON.parse(found) : undefined;
      }
      expect(line).toBeDefined();
      // Start-up leaves MBs of garbage (a typical agent: 3–5 MB back).
      expect(line!["rssMbBefore"]! - line!["rssMbAfter"]!).toBeGreaterThan(1);
      // The agent's trims of malloc's heap run (glibc, through FFI).
      expect(child.output()).toContain('"msg":"native heap trims","available":true');
    } finally {
      child.proc.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
  }, 90_000);
});

describe("heap compaction after load", () => {
  const MiB = 2 ** 20;

  /** Compactions on a fake clock, CPU time and RSS; `compactHeap` leaves the RSS at `after` (default: unchanged). */
  function fake(opts: { rss: number; after?: number; can?: boolean }) {
    const lines: Record<string, unknown>[] = [];
    const state = { t: 1_000_000, cpu: 0, rss: opts.rss, calls: 0 };
    const compactions = createCompactions({
      compactHeap: () => {
        state.calls++;
        if (opts.after !== undefined) state.rss = opts.after;
        return opts.can ?? true;
      },
      rssBytes: () => state.rss,
      cpuTimeMs: () => state.cpu,
      now: () => state.t,
      log: createLogger({ agent: "t", secrets: [], write: (l) => lines.push(JSON.parse(l)) }),
    });
    /** One look `ms` later, the process having used `cpuMs` of CPU meanwhile. */
    const look = (ms: number, cpuMs = 0) => {
      state.t += ms;
      state.cpu += cpuMs;
      return compactions.look(state.rss);
    };
    return { compactions, state, lines, look };
  }

  it("compacts when quiet and grown 16 MiB over the lowest, logs it, and not again for nothing", () => {
    const f = fake({ rss: 60 * MiB });
    expect(f.look(250)).toBe(false); // at its lowest
    f.state.rss = 75 * MiB;
    expect(f.look(250)).toBe(false); // 15 MiB over it
    f.state.rss = 90 * MiB;
    expect(f.look(250)).toBe(true);
    expect(f.state.calls).toBe(1);
    expect(f.lines.filter((l) => l["msg"] === "heap compacted")).toEqual([
      expect.objectContaining({ reason: "after load", rssMbBefore: 90, rssMbAfter: 90 }),
    ]);
    // It gave nothing back: 90 MiB is the new lowest, so a minute later nothing is due either.
    expect(f.look(120_000)).toBe(false);
    f.state.rss = 106 * MiB; // 16 MiB more: due again
    expect(f.look(250)).toBe(true);
    expect(f.state.calls).toBe(2);
  });

  it("waits while the agent is busy (5 % of a core or more since the last look)", () => {
    const f = fake({ rss: 60 * MiB });
    f.state.rss = 130 * MiB;
    expect(f.look(250, 12.5)).toBe(false); // 5 %
    expect(f.look(1_000, 200)).toBe(false); // 20 %
    expect(f.look(1_000, 49)).toBe(true); // 4.9 %
  });

  it("leaves a minute between two compactions, the start's included", () => {
    const f = fake({ rss: 60 * MiB, after: 60 * MiB });
    f.compactions.start();
    expect(f.state.calls).toBe(1);
    f.state.rss = 100 * MiB;
    expect(f.look(59_000)).toBe(false);
    expect(f.look(1_000)).toBe(true);
    const reasons = f.lines.filter((l) => l["msg"] === "heap compacted").map((l) => l["reason"]);
    expect(reasons).toEqual(["start", "after load"]);
  });

  it("a runtime that cannot compact is asked once in all, and stop() ends them", () => {
    const cannot = fake({ rss: 60 * MiB, can: false });
    cannot.compactions.start();
    cannot.state.rss = 100 * MiB;
    expect(cannot.look(120_000)).toBe(false);
    expect(cannot.state.calls).toBe(1);
    expect(cannot.lines).toEqual([]);

    const stopped = fake({ rss: 60 * MiB });
    stopped.compactions.stop();
    stopped.state.rss = 100 * MiB;
    expect(stopped.look(120_000)).toBe(false);
    stopped.compactions.start();
    expect(stopped.state.calls).toBe(0);
  });

  it("a compaction that throws is logged once and not tried again", () => {
    const lines: Record<string, unknown>[] = [];
    let calls = 0;
    const compactions = createCompactions({
      compactHeap: () => {
        calls++;
        throw new Error("no gc today");
      },
      rssBytes: () => 100 * MiB,
      cpuTimeMs: () => 0,
      now: Date.now,
      log: createLogger({ agent: "t", secrets: [], write: (l) => lines.push(JSON.parse(l)) }),
    });
    compactions.start();
    compactions.start();
    expect(calls).toBe(1);
    expect(lines.filter((l) => l["msg"] === "heap compaction failed")).toHaveLength(1);
  });

  it("an agent looks after each trim, and trims again at once after a compaction", async () => {
    let rss = 60 * MiB;
    const trimsAt: number[] = [];
    const compactedAt: number[] = [];
    const { running, lines } = await startAnalytics("after-load.db", {
      rssBytes: () => rss,
      cpuTimeMs: () => 0, // quiet
      compactHeap: () => (compactedAt.push(Date.now()), (rss = 70 * MiB), true),
      compactHeapAfterMs: 600_000, // not the start's compaction
      trimNativeHeap: () => (trimsAt.push(Date.now()), Promise.resolve(true)),
      trimNativeHeapEveryMs: 10,
    });
    try {
      for (let i = 0; i < 100 && trimsAt.length < 4; i++) await sleep(20); // the trims slow down: 10, 20, 40 ms …
      rss = 90 * MiB;
      for (let i = 0; i < 200 && compactedAt.length === 0; i++) await sleep(20);
      expect(compactedAt).toHaveLength(1);
      expect(lines.filter((l) => l["msg"] === "heap compacted")).toEqual([
        expect.objectContaining({ reason: "after load", rssMbBefore: 90, rssMbAfter: 70 }),
      ]);
      for (let i = 0; i < 100 && !trimsAt.some((t) => t > compactedAt[0]!); i++) await sleep(5);
      const next = trimsAt.find((t) => t > compactedAt[0]!)!;
      expect(next - compactedAt[0]!).toBeLessThan(100); // everyMs again, not the slowed-down pace
    } finally {
      await running.stop();
    }
  });
});

describe("native heap trims", () => {
  it("run while the agent runs, and stop with it", async () => {
    let calls = 0;
    const { running } = await startAnalytics("trims.db", {
      trimNativeHeap: () => (calls++, Promise.resolve(true)),
      trimNativeHeapEveryMs: 20,
    });
    try {
      for (let i = 0; i < 100 && calls < 3; i++) await sleep(20);
      expect(calls).toBeGreaterThanOrEqual(3);
    } finally {
      await running.stop();
    }
    const atStop = calls;
    await sleep(200);
    expect(calls).toBe(atStop);
  });

  it("an idle agent trims less and less often", async () => {
    const at: number[] = [];
    const { running } = await startAnalytics("idle.db", {
      trimNativeHeap: () => (at.push(Date.now()), Promise.resolve(true)),
      trimNativeHeapEveryMs: 20,
    });
    try {
      for (let i = 0; i < 200 && at.length < 5; i++) await sleep(20);
      expect(at.length).toBeGreaterThanOrEqual(5);
      // Nothing given back (the RSS stays at 50 MB): 40, 80, 160 and 320 ms between these trims (600 in all; timers
      // may fire a ms early); without the back-off, 80.
      expect(at[4]! - at[0]!).toBeGreaterThanOrEqual(590);
    } finally {
      await running.stop();
    }
  });

  it("waits everyMs after a trim that gave back, twice as long after one that did not, up to 8 s", () => {
    expect(nextTrimDelayMs(250, 250, 2 ** 20)).toBe(250);
    expect(nextTrimDelayMs(4_000, 250, 300 * 1024)).toBe(250);
    expect(nextTrimDelayMs(250, 250, 100 * 1024)).toBe(500);
    expect(nextTrimDelayMs(4_000, 250, 0)).toBe(8_000);
    expect(nextTrimDelayMs(8_000, 250, -(2 ** 20))).toBe(8_000);
    expect(nextTrimDelayMs(250, 10_000, 0)).toBe(10_000);
  });

  it("a runtime that cannot trim is asked once, and says so", async () => {
    let calls = 0;
    const { running, lines } = await startAnalytics("cannot.db", {
      trimNativeHeap: () => (calls++, Promise.resolve(false)),
      trimNativeHeapEveryMs: 10,
    });
    try {
      for (let i = 0; i < 100 && calls === 0; i++) await sleep(20);
      await sleep(200);
      expect(calls).toBe(1);
      expect(lines.filter((l) => l["msg"] === "native heap trims")).toEqual([
        expect.objectContaining({ available: false }),
      ]);
      expect(lines.filter((l) => l["msg"] === "native heap trim failed")).toEqual([]);
    } finally {
      await running.stop();
    }
  });

  it("a trim that fails is logged once, the trims end, and the agent keeps serving", async () => {
    let calls = 0;
    const { running, lines } = await startAnalytics("fails.db", {
      trimNativeHeap: () => (calls++, Promise.reject(new Error("no libc today"))),
      trimNativeHeapEveryMs: 10,
    });
    try {
      for (let i = 0; i < 100 && calls === 0; i++) await sleep(20);
      await sleep(200);
      expect(calls).toBe(1);
      expect(lines.filter((l) => l["msg"] === "native heap trim failed")).toHaveLength(1);
      expect((await fetch(`http://127.0.0.1:${running.port}/health`)).status).toBe(200);
    } finally {
      await running.stop();
    }
  });

  it("is a no-op under Node", async () => {
    expect(await trimNativeHeap()).toBe(false);
  });

  it("under Deno gives the pages malloc holds free back to the system", async () => {
    // Half of 2,000 buffers of 64 KiB (below malloc's mmap threshold: in its heap) freed, the other half kept, so
    // the free memory lies between live chunks, where malloc's own trimming of the heap's top cannot reach it.
    const script = join(dir, "trim.ts");
    await writeFile(
      script,
      `import { trimNativeHeap } from ${JSON.stringify(`${repoRoot}src/platform.ts`)};
const rss = () => Deno.memoryUsage().rss;
const buffers: (Uint8Array | null)[] = Array.from({ length: 2000 }, () => new Uint8Array(64 * 1024).fill(1));
for (let i = 0; i < buffers.length; i += 2) buffers[i] = null;
const gc = (globalThis as unknown as { gc(o: object): void }).gc;
gc({ type: "major", execution: "sync" });
await new Promise((r) => setTimeout(r, 200)); // backing stores are freed after the collection
gc({ type: "major", execution: "sync" });
const before = rss();
const trimmed = await trimNativeHeap();
console.log(JSON.stringify({ trimmed, before, after: rss(), kept: buffers.filter(Boolean).length }));
`,
    );
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(denoBin, ["run", "-A", V8_FLAGS_ARG, script], (err, out) => (err ? reject(err) : resolve(out)))
    );
    const r = JSON.parse(stdout) as { trimmed: boolean; before: number; after: number; kept: number };
    expect(r.trimmed).toBe(true);
    expect(r.kept).toBe(1000);
    // ~62 MiB were freed between live buffers: most of it leaves the RSS.
    expect(r.before - r.after).toBeGreaterThan(32 * 2 ** 20);
  }, 60_000);
});
