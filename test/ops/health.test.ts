// `aideazz health` against real agent processes, a fake llama.cpp /health and a real store and bus:
// exit 0 healthy, 1 degraded, 2 down; and RELIABILITY.md E3: a stalled event loop (SIGSTOP) is reported down
// within the deadline and restarted.
import { spawn as spawnNode } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import {
  checkHealth,
  createRestartLog,
  heal,
  type HealthDeps,
  type HealthReport,
  renderSystemd,
} from "../../src/ops/mod.ts";
import { diskSpace, fileSize, kill, serve, type Server, sleep } from "../../src/platform.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { type Child, cli, repoRoot, runAideazz, spawnAideazz } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { agentSpec, health, openBus, supervise, until, writeConfig } from "./support.ts";

let dir: string;
let cleanup: () => Promise<void>;
let llama: Server;
let llamaStatus = 200;
const children: Child[] = [];
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-health-"));
  // llama-server's /health: 200 {"status":"ok"}, 503 while it loads the model.
  llama = await serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) =>
      new URL(req.url).pathname === "/health"
        ? Response.json(
          llamaStatus === 200 ? { status: "ok" } : { error: { code: 503, message: "Loading model" } },
          { status: llamaStatus },
        )
        : new Response("not found", { status: 404 }),
  });
});
afterAll(async () => {
  for (const c of children) c.proc.kill("SIGTERM");
  await Promise.all(children.map((c) => c.exited));
  await llama.close();
  await cleanup();
});

async function startAgents(
  name: string,
  agents: { name: string; limits?: Record<string, unknown> }[],
  ops: Record<string, unknown> = {},
) {
  const ports = await Promise.all(agents.map(() => freePort()));
  const db = `file:${join(dir, `${name}.db`)}`;
  const config = join(dir, `${name}.json`);
  await writeConfig(config, agents.map((a, i) => ({ ...a, port: ports[i]! })), db, ops);
  for (const a of agents) {
    const child = spawnAideazz(["agent", a.name, "--config", config]);
    children.push(child);
  }
  for (const p of ports) await until("healthy", async () => (await health(p))?.status === 200);
  return { ports, db, config };
}

async function runHealth(config: string, extra: string[] = []) {
  const r = await cli(["health", "--json", "--config", config, ...extra]);
  return {
    code: r.code,
    report: JSON.parse(r.stdout) as HealthReport & { actions: unknown[] },
    stderr: r.stderr,
  };
}

describe("aideazz health", () => {
  it("all healthy: exit 0; agents, memory, sidecar, database, disk, WAL and bus all reported", async () => {
    const { config } = await startAgents("ok", [{ name: "a" }, { name: "b" }], {
      llama: { url: `http://127.0.0.1:${llama.port}` },
    });
    llamaStatus = 200;
    const { code, report, stderr } = await runHealth(config);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(report.status).toBe("ok");
    expect(report.targets.map((t) => [t.target, t.level])).toEqual([["a", "ok"], ["b", "ok"], [
      "llama",
      "ok",
    ]]);
    expect(report.targets[0]!.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(report.checks.map((c) => [c.name, c.level])).toEqual([
      ["memory a", "ok"],
      ["memory b", "ok"],
      ["database", "ok"],
      ["disk", "ok"],
      ["wal", "ok"],
      ["bus backlog", "ok"],
      ["dead letters", "ok"],
    ]);
    const table = await cli(["health", "--config", config]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^CHECK\s+LEVEL\s+DETAIL$/m);
    expect(table.stdout).toMatch(/^agent a\s+ok\s+up \d+ s$/m);
    expect(table.stdout).toMatch(/^memory b\s+ok\s+[\d.]+ MiB of MemoryMax 256M \(\d+%\)$/m);
    expect(table.stdout).toMatch(/status: ok \(exit 0\)\n$/);
  }, 120_000);

  it(
    "degraded: exit 1 for a loading sidecar, memory near the limit, big WAL, low disk, an old backlog and dead letters",
    async () => {
      const { config, db } = await startAgents("degraded", [{ name: "a", limits: { memoryMax: "64M" } }], {
        llama: { url: `http://127.0.0.1:${llama.port}` },
        health: { maxWal: "1K", minDiskFree: "100000G", maxBacklogAgeSec: 0 },
      });
      llamaStatus = 503;
      const tb = await openBus(db);
      await tb.bus.subscribe("nobody", "listens");
      await tb.bus.publish([{ topic: "nobody", key: "k", payload: { x: 1 } }]);
      await tb.bus.subscribe("poison", "eater");
      await tb.bus.publish([{ topic: "poison", key: "k", payload: { x: 2 } }]);
      const consumer = tb.bus.consume({
        topic: "poison",
        group: "eater",
        maxAttempts: 1,
        handler: () => Promise.reject(new Error("boom")),
      });
      await until("dead letter", async () => (await tb.bus.deadLetters()).length === 1);
      await consumer.stop();
      await sleep(20);
      const { code, report } = await runHealth(config);
      llamaStatus = 200;
      await tb.close();
      expect(code).toBe(1);
      expect(report.status).toBe("degraded");
      const level = (name: string) => report.checks.find((c) => c.name === name);
      expect(report.targets.find((t) => t.target === "llama")).toMatchObject({
        level: "degraded",
        detail: expect.stringContaining("loading the model (HTTP 503)"),
      });
      expect(level("memory a")).toMatchObject({
        level: "degraded",
        detail: expect.stringMatching(/of MemoryMax 64M/),
      });
      expect(level("wal")).toMatchObject({ level: "degraded", detail: expect.stringContaining("above 1K") });
      expect(level("disk")).toMatchObject({
        level: "degraded",
        detail: expect.stringContaining("below 100000G"),
      });
      expect(level("bus backlog")).toMatchObject({
        level: "degraded",
        detail: expect.stringContaining("(nobody/listens)"),
      });
      expect(level("dead letters")).toEqual({
        name: "dead letters",
        level: "degraded",
        detail: "poison/eater: 1",
      });
    },
    120_000,
  );

  it(
    "down: exit 2 for an agent that is not running; `--restart` without systemd reports it cannot act",
    async () => {
      const { config } = await startAgents("down", [{ name: "a" }]);
      const gone = await freePort();
      const cfg = JSON.parse(await readFile(config, "utf8"));
      cfg.agents.push({ name: "gone", kind: "analytics", port: gone });
      const config2 = join(dir, "down2.json");
      await writeFile(config2, JSON.stringify(cfg));
      const { code, report } = await runHealth(config2, ["--restart"]);
      expect(code).toBe(2);
      expect(report.targets.find((t) => t.target === "gone")).toMatchObject({
        level: "down",
        detail: "connection refused",
      });
      expect(report.targets.find((t) => t.target === "a")).toMatchObject({ level: "ok" });
      // The same under Deno, the shipped runtime (its fetch says "fetch failed", the reason in the cause).
      const deno = await runAideazz(["health", "--json", "--config", config2]);
      expect(deno.code).toBe(2);
      expect((JSON.parse(deno.stdout) as HealthReport).targets.find((t) => t.target === "gone")).toMatchObject({
        level: "down",
        detail: "connection refused",
      });
      // No systemd here (no PID 1): systemctl cannot read the unit, so nothing is restarted, and it says why.
      expect(report.actions).toEqual([
        expect.objectContaining({
          target: "gone",
          action: "skip",
          reason: expect.stringMatching(/^cannot read the unit's state: /),
        }),
      ]);
    },
    120_000,
  );

  it("an aideazz agent answering on the sidecar's address is not reported as llama-server", async () => {
    // What an agent's /health says (README "Caddy" once put a channel on the sidecar's default port, 8090).
    const agentThere = await serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () => Response.json({ status: "ok", agent: "telegram-support", pid: process.pid }),
    });
    try {
      const { config } = await startAgents("sidecar-taken", [{ name: "a" }], {
        llama: { url: `http://127.0.0.1:${agentThere.port}` },
      });
      const { report } = await runHealth(config);
      expect(report.targets.find((t) => t.target === "llama")).toMatchObject({
        level: "down",
        detail: expect.stringContaining('the aideazz agent "telegram-support" answers there, not llama-server'),
      });
    } finally {
      await agentThere.close();
    }
  }, 120_000);

  it("a fresh install (no database yet): the database line names the fix; nothing unchecked is reported ok", async () => {
    const config = join(dir, "fresh.json");
    const db = `file:${join(dir, "fresh", "aideazz.db")}`;
    await writeConfig(config, [{ name: "a", port: await freePort() }], db);
    const { code, report } = await runHealth(config);
    expect(code).toBe(2);
    expect(report.checks.find((c) => c.name === "database")).toMatchObject({
      level: "down",
      detail: expect.stringContaining("`aideazz migrate` creates it"),
    });
    // The bus lives in the database that could not be opened: it was not checked, and it is not "ok".
    expect(report.checks.filter((c) => c.level === "ok")).toEqual([]);
  });

  it(
    "a write lock held past the busy timeout: database down, agents still answer (503) within the 8 s deadline",
    async () => {
      const { config, db } = await startAgents("locked", [{ name: "a" }]);
      const holder = spawnNode(process.execPath, [
        join(repoRoot, "test/support/hold-lock.mjs"),
        db.slice("file:".length),
      ], { stdio: ["pipe", "pipe", "inherit"] });
      await new Promise((resolve) => holder.stdout.once("data", resolve));
      try {
        const { code, report } = await runHealth(config);
        expect(code).toBe(2);
        expect(report.checks.find((c) => c.name === "database")).toEqual({
          name: "database",
          level: "down",
          detail: "not writable (SQLITE_BUSY)",
        });
        expect(report.targets[0]).toMatchObject({
          level: "degraded",
          detail: expect.stringContaining("database not writable (SQLITE_BUSY)"),
        });
      } finally {
        holder.stdin.end();
        await new Promise((resolve) => holder.on("exit", resolve));
      }
    },
    120_000,
  );

  it(
    "E3: a stalled event loop (SIGSTOP) is down within the deadline, and --restart logic restarts it",
    async () => {
      const port = await freePort();
      const dbUrl = `file:${join(dir, "stall.db")}`;
      const configPath = join(dir, "stall.json");
      await writeConfig(configPath, [{ name: "s", port }], dbUrl, { health: { timeoutMs: 1_500 } });
      const config = loadConfig(await readFile(configPath, "utf8"), {}, []);
      const { supervisor, events } = supervise([agentSpec("s", configPath)]);
      supervisor.start();
      const store = await openStore({ url: dbUrl });
      try {
        const first = await until(
          "healthy",
          async () => (await health(port))?.status === 200 && (await health(port))!.body.pid,
        );
        await migrate(store.client);
        kill(first!, "SIGSTOP");
        const deps = {
          fetch,
          now: Date.now,
          sleep,
          diskSpace,
          fileSize,
          store,
          busStats: undefined,
        };
        const t0 = Date.now();
        const report = await checkHealth(config, deps);
        const took = Date.now() - t0;
        expect(report.targets[0]).toMatchObject({
          target: "s",
          level: "down",
          detail: "no answer within 1.5 s",
        });
        expect(report.status).toBe("down");
        expect(took).toBeLessThan(1_500 * 2 + 1_000 + 1_000); // two tries and the pause between them
        // The unit has been up long enough (the clock is moved past the start grace): restart it.
        const later = () => Date.now() + 60_000;
        const log = createLogger({ agent: "health", secrets: [], write: () => {} });
        const actions = await heal(report, config, {
          manager: supervisor,
          restarts: createRestartLog(store.client),
          log,
          now: later,
        });
        expect(actions).toEqual([expect.objectContaining({ target: "s", action: "restart", ok: true })]);
        const second = await until("restarted", async () => {
          const h = await health(port);
          return h?.status === 200 && h.body.pid !== first && h.body.pid;
        });
        expect(second).not.toBe(first);
        expect(events.filter((e) => e["msg"] === "agent started")).toHaveLength(2);
      } finally {
        store.close();
        await supervisor.stop();
      }
    },
    120_000,
  );
});

describe("aideazz health: memory against the unit's limits", () => {
  const MiB = 1024 * 1024;
  // checkHealth with a fake /health that reports `rssBytes`, and no store (not under test).
  const deps = (rssBytes: number): HealthDeps => ({
    fetch: (() => Promise.resolve(Response.json({ status: "ok", uptimeS: 3600, rssBytes }))) as typeof fetch,
    now: () => Date.UTC(2026, 0, 1),
    sleep: () => Promise.resolve(),
    diskSpace: () => Promise.resolve({ freeBytes: 1e12, totalBytes: 2e12 }),
    fileSize: () => Promise.resolve(undefined),
    store: { error: "not under test" },
    busStats: undefined,
  });

  it("an agent past the MemoryHigh its unit has (by default 80% of MemoryMax) is degraded, not ok", async () => {
    const config = loadConfig(JSON.stringify({
      agents: [{ name: "orch", kind: "orchestrator", port: 9301, limits: { memoryMax: "256M" } }],
    }), {}, []);
    // The drop-in `aideazz systemd render` writes when the config names no memoryHigh: past it the kernel
    // throttles the agent and reclaims hard, though it is below memoryWarnFraction (90%) of MemoryMax.
    const files = renderSystemd(config, "/etc/aideazz/aideazz.json");
    expect(files.find((f) => f.path.endsWith("limits.conf"))!.text).toMatch(/^MemoryHigh=209715K$/m);
    const level = async (rss: number) =>
      (await checkHealth(config, deps(rss))).checks.find((c) => c.name === "memory orch")?.level;
    expect(await level(220 * MiB)).toBe("degraded"); // 86% of MemoryMax, above 209715K
    expect(await level(200 * MiB)).toBe("ok"); // 78%
  });
});
