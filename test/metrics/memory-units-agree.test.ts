// An agent's memory reads the same in `aideazz health`, `aideazz stats` and the dashboard's Agents table: base 1024,
// as systemd reads MemoryMax=256M (256 × 1024² bytes), so an agent at exactly its limit is not shown above it.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analytics } from "../../src/agents/analytics.ts";
import { type AgentDefinition, runAgent, type RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { serve } from "../../src/platform.ts";
import { cli } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const RSS = 256 * 1024 * 1024; // exactly MemoryMax=256M

let dir: string;
let cleanup: () => Promise<void>;
let configPath: string;
let running: RunningAgent;
let port: number;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-memory-units-"));
  port = await freePort();
  const json = {
    store: { url: `file:${join(dir, "m.db")}` },
    agents: [{ name: "analytics", kind: "analytics", port, limits: { memoryMax: "256M", memoryHigh: "250M" } }],
  };
  configPath = join(dir, "aideazz.json");
  await writeFile(configPath, JSON.stringify(json));
  const config = loadConfig(JSON.stringify(json), {}, ["analytics"]);
  running = await runAgent({
    agent: config.agents[0]!,
    definition: analytics as unknown as AgentDefinition,
    config,
    dbUrl: config.store.url,
    secrets: {},
    log: createLogger({ agent: "analytics", secrets: [], write: () => {} }),
    version: "test",
    now: Date.now,
    fetch,
    serve,
    rssBytes: () => RSS,
    pid: 4242,
  });
  await running.flush();
});
afterAll(async () => {
  await running?.stop();
  await cleanup();
});

describe("agent memory in the operator's views", () => {
  it("health, stats and the dashboard give one figure for an agent at exactly its MemoryMax", async () => {
    const health = await cli(["health", "--config", configPath]);
    const healthLine = health.stdout.split("\n").find((l) => l.startsWith("memory analytics")) ?? health.stdout;
    expect(healthLine).toContain("256.0 MiB of MemoryMax 256M (100%)");

    const stats = await cli(["stats", "--config", configPath, "--since", "15m"]);
    const statsRow = stats.stdout.split("\n").find((l) => /^\s+analytics\s+up/.test(l)) ?? stats.stdout;
    const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    const pageRow = page.match(/<td>analytics<\/td>[\s\S]*?<\/tr>/)?.[0].replace(/\s+/g, " ") ?? "";

    expect(statsRow).toContain("256.0 MiB");
    expect(pageRow).toContain("<td>256.0 MiB</td>");
  }, 30_000);
});
