// The heap compaction after start: scheduled once by the runtime, and what it gives back in a real agent process.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { sleep } from "../../src/platform.ts";
import { runTestAgent } from "../support/agent.ts";
import { spawnAideazz, waitForStatus } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-compact-")));
afterAll(() => cleanup());

async function startAnalytics(db: string, compactHeap: () => boolean, compactHeapAfterMs: number) {
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
    runtime: { rssBytes: () => 50 * 1024 * 1024, compactHeap, compactHeapAfterMs },
  });
  return { running, lines };
}

describe("heap compaction after start", () => {
  it("runs once, after the delay, and logs the RSS before and after", async () => {
    let calls = 0;
    const { running, lines } = await startAnalytics("once.db", () => (calls++, true), 50);
    try {
      expect(calls).toBe(0);
      for (let i = 0; i < 100 && calls === 0; i++) await sleep(20);
      await sleep(300);
      expect(calls).toBe(1);
      expect(lines.filter((l) => l["msg"] === "heap compacted")).toEqual([
        expect.objectContaining({ rssMbBefore: 50, rssMbAfter: 50, ms: expect.any(Number) }),
      ]);
    } finally {
      await running.stop();
    }
  });

  it("an agent stopped before the delay never compacts", async () => {
    let calls = 0;
    const { running, lines } = await startAnalytics("early.db", () => (calls++, true), 300);
    await running.stop();
    await sleep(500);
    expect(calls).toBe(0);
    expect(lines.filter((l) => l["msg"] === "heap compacted")).toEqual([]);
  });

  it("a runtime without gc is asked once and logs nothing", async () => {
    let calls = 0;
    const { running, lines } = await startAnalytics("without.db", () => (calls++, false), 10);
    try {
      for (let i = 0; i < 100 && calls === 0; i++) await sleep(20);
      expect(calls).toBe(1);
      expect(lines.filter((l) => l["msg"] === "heap compacted")).toEqual([]);
    } finally {
      await running.stop();
    }
  });

  it("a compaction that throws is logged, and the agent keeps serving", async () => {
    const { running, lines } = await startAnalytics("throws.db", () => {
      throw new Error("no gc today");
    }, 10);
    try {
      for (let i = 0; i < 100 && !lines.some((l) => l["msg"] === "heap compaction failed"); i++) await sleep(20);
      expect(lines.filter((l) => l["msg"] === "heap compaction failed")).toHaveLength(1);
      expect((await fetch(`http://127.0.0.1:${running.port}/health`)).status).toBe(200);
    } finally {
      await running.stop();
    }
  });

  it("a real agent under Deno with the production V8 flags gives memory back", async () => {
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
    } finally {
      child.proc.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
  }, 90_000);
});
