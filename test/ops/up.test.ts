// `aideazz up` as a real process under Deno: starts every configured agent as its child, prefixes their
// output, restarts a killed one, reports a failing one clearly and keeps the others running, and stops them
// all gracefully on SIGTERM (exit 0).
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { getPriority } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { threadNices as nices } from "../../bench/system/profile.ts";
import { agentKinds } from "../../src/agents/mod.ts";
import { kill } from "../../src/platform.ts";
import { repoRoot, spawnAideazz } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { health, until, writeConfig } from "./support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-up-")));
afterAll(() => cleanup());

const fastUp = {
  up: { restartMinMs: 200, restartMaxMs: 1_000, maxRestartsPerHour: 3, stopTimeoutMs: 10_000 },
};

function upEvents(output: string): Record<string, unknown>[] {
  return output.split("\n").filter((l) => l.startsWith("up ")).map((l) =>
    JSON.parse(l.slice(l.indexOf("|") + 2))
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function holdPort(port: number): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

/** The nice value of an agent at a third of the top weight, started by a process with ours. */
const lower = Math.min(19, getPriority() + 5);

describe("aideazz up", () => {
  it(
    "runs the agents, restarts one killed with SIGKILL, gives up on one that cannot start, and stops all on SIGTERM",
    async () => {
      const [pa, pb, busy] = [await freePort(), await freePort(), await freePort()];
      const blocker = await holdPort(busy); // "blocked" cannot listen: it exits 1 at every start
      const config = join(dir, "up.json");
      await writeConfig(
        config,
        [{ name: "web", port: pa }, { name: "stats", port: pb, limits: { cpuWeight: 300 } }, { name: "blocked", port: busy }],
        `file:${join(dir, "up.db")}`,
        fastUp,
      );
      const up = spawnAideazz(["up", "--config", config]);
      try {
        const first = await until(
          "web healthy",
          async () => (await health(pa))?.status === 200 && (await health(pa))!.body.pid,
          60_000,
        );
        const stats = await until("stats healthy", async () => (await health(pb))?.status === 200 && (await health(pb))!.body.pid, 60_000);
        // The units' CPU weights as nice values (src/ops/priority.ts), every thread: 100 against 300 is nice 5 more
        // than up's own (this process's).
        expect([await nices(first!), await nices(stats!)]).toEqual([[lower], [getPriority()]]);
        const gaveUp = await until(
          "gave up on blocked",
          () => upEvents(up.output()).find((e) => e["msg"] === "agent failed: giving up"),
          60_000,
        );
        expect(gaveUp).toMatchObject({
          agent: "blocked",
          exit: "exited with code 1",
          reason: "3 restarts in the last hour (ceiling 3)",
        });
        expect(up.output()).toMatch(/^web\s+\| \{.*"msg":"agent started"/m);
        expect(up.output()).toMatch(/^blocked \| /m);
        kill(first!, "SIGKILL");
        const again = await until("web restarted", async () => {
          const h = await health(pa);
          return h?.status === 200 && h.body.pid !== first && h.body.pid;
        }, 60_000);
        expect(await nices(again!)).toEqual([lower]);
        expect((await health(pb))?.status).toBe(200);
      } finally {
        up.proc.kill("SIGTERM");
      }
      expect(await up.exited).toBe(0);
      blocker.close();
      const events = upEvents(up.output());
      expect(events.map((e) => e["msg"])).toEqual(
        expect.arrayContaining(["stopping all agents", "all agents stopped"]),
      );
      expect(up.output()).toMatch(/^web\s+\| \{.*"msg":"agent stopped"/m);
      expect(up.output()).toMatch(/^stats\s+\| \{.*"msg":"agent stopped"/m);
      expect(await health(pa)).toBeUndefined();
    },
    180_000,
  );

  const missing = (["orchestrator", "webchat", "analytics"] as const).find((k) => !(k in agentKinds));
  it.skipIf(missing === undefined)(
    `an agent kind this build does not have (${
      missing ?? "none missing"
    }) is reported clearly; the other agent keeps running`,
    async () => {
      const [pa, pm] = [await freePort(), await freePort()];
      const config = join(dir, "kind.json");
      await writeConfig(
        config,
        [{ name: "stats", port: pa }, { name: "later", kind: missing!, port: pm }],
        `file:${join(dir, "kind.db")}`,
        fastUp,
      );
      const up = spawnAideazz(["up", "--config", config]);
      try {
        const gaveUp = await until(
          "gave up",
          () => upEvents(up.output()).find((e) => e["msg"] === "agent failed: giving up"),
          60_000,
        );
        expect(gaveUp["agent"]).toBe("later");
        expect(String(gaveUp["lastOutput"])).toMatch(
          new RegExp(`kind "${missing}" of agent "later" is not available`),
        );
        expect((await health(pa))?.status).toBe(200);
      } finally {
        up.proc.kill("SIGTERM");
      }
      expect(await up.exited).toBe(0);
    },
    120_000,
  );

  it("SIGTERM to `npm start -- up` (the README's command) stops up and its agents: none is left running", async () => {
    const port = await freePort();
    const config = join(dir, "npm.json");
    await writeConfig(config, [{ name: "stats", port }], `file:${join(dir, "npm.db")}`, fastUp);
    const npm = spawn("npm", ["start", "--", "up", "--config", config], { cwd: repoRoot, stdio: "ignore" });
    const exited = new Promise((r) => npm.once("exit", r));
    try {
      const agentPid = await until("the agent answers", async () => (await health(port))?.body.pid, 60_000);
      npm.kill("SIGTERM");
      await exited;
      await until("the agent is gone", () => !alive(agentPid), 15_000);
      expect(await health(port)).toBeUndefined();
    } finally {
      npm.kill("SIGKILL");
    }
  }, 90_000);

  it("Ctrl-C under npm (SIGINT from the terminal and from npm, ms apart): every agent stops gracefully, exit 0", async () => {
    const port = await freePort();
    const config = join(dir, "int.json");
    await writeConfig(config, [{ name: "stats", port }], `file:${join(dir, "int.db")}`, fastUp);
    const up = spawnAideazz(["up", "--config", config]);
    try {
      await until("the agent answers", async () => (await health(port))?.status === 200, 60_000);
      up.proc.kill("SIGINT");
      await new Promise((r) => setTimeout(r, 5));
      up.proc.kill("SIGINT");
      expect(await up.exited).toBe(0);
    } finally {
      up.proc.kill("SIGKILL");
    }
    const msgs = upEvents(up.output()).map((e) => e["msg"]);
    expect(msgs.slice(-2)).toEqual(["stopping all agents", "all agents stopped"]);
    expect(up.output()).toMatch(/^stats +\| .*"msg":"agent stopped"/m);
  }, 90_000);

  it("exits 1 with a clear line when no agent can run at all", async () => {
    const busy = await freePort();
    const blocker = await holdPort(busy);
    const config = join(dir, "none.json");
    await writeConfig(config, [{ name: "blocked", port: busy }], `file:${join(dir, "none.db")}`, fastUp);
    const up = spawnAideazz(["up", "--config", config]);
    expect(await up.exited).toBe(1);
    blocker.close();
    expect(up.output()).toContain(`cannot listen on 127.0.0.1:${busy}: the port is in use by another process`);
    expect(upEvents(up.output()).at(-1)).toMatchObject({
      level: "error",
      msg: "no agent is running: every agent failed or stopped (see the lines above)",
    });
  }, 120_000);
});
