// Real agent processes under Deno (the production runtime): concurrent starts, SIGTERM, health on a broken disk.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot, runAideazz, spawnAideazz, waitForStatus } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-life-")));
afterAll(() => cleanup());

async function writeConfig(path: string, agents: { name: string; port: number }[], dbUrl: string) {
  await writeFile(path, JSON.stringify({ store: { url: dbUrl }, agents: agents.map((a) => ({ ...a, kind: "analytics" })) }));
}

describe("agent lifecycle", () => {
  it("six concurrent migrate processes on one new database all succeed", async () => {
    const url = `file:${join(dir, "six-migrate.db")}`;
    const results = await Promise.all(Array.from({ length: 6 }, () => runAideazz(["migrate", "--db", url])));
    for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(results.filter((r) => r.stdout.includes("applied")).length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it("six agents started at the same moment on one new database all become healthy, then SIGTERM exits 0", async () => {
    const config = join(dir, "six.json");
    const agents = await Promise.all(Array.from({ length: 6 }, async (_, i) => ({ name: `a${i}`, port: await freePort() })));
    await writeConfig(config, agents, `file:${join(dir, "six.db")}`);
    const children = agents.map((a) => spawnAideazz(["agent", a.name, "--config", config]));
    try {
      for (const a of agents) {
        const res = await waitForStatus(`http://127.0.0.1:${a.port}/health`, 200, 60_000);
        expect(await res.json()).toMatchObject({ status: "ok", agent: a.name, db: { ok: true } });
      }
    } finally {
      for (const c of children) c.proc.kill("SIGTERM");
    }
    const codes = await Promise.all(children.map((c) => c.exited));
    expect(codes).toEqual([0, 0, 0, 0, 0, 0]);
    for (const c of children) expect(c.output()).not.toMatch(/database is locked|SQLITE_BUSY/);
  }, 120_000);

  it("SIGTERM stops the agent: exit 0, store closed (WAL checkpointed away), logs say so, stats says stopped", async () => {
    const port = await freePort();
    const db = join(dir, "term.db");
    const config = join(dir, "term.json");
    await writeConfig(config, [{ name: "analytics", port }], `file:${db}`);
    const child = spawnAideazz(["agent", "analytics", "--config", config]);
    await waitForStatus(`http://127.0.0.1:${port}/health`, 200, 60_000);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^aideazz_process_resident_memory_bytes \d+$/m);
    // Its writes at start (migrations, heartbeat) took the database's write lock.
    expect(metrics).toMatch(/^aideazz_store_lock_hold_ms_count [1-9]\d*$/m);
    expect(metrics).toMatch(/^aideazz_store_lock_wait_ms_count [1-9]\d*$/m);
    child.proc.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const lines = child.output().trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["signal received", "agent stopping", "agent stopped"]));
    // A clean stop checkpoints: the WAL is empty (or gone) afterwards.
    expect(existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0).toBe(0);
    // …and is recorded: `aideazz stats` says stopped at once, not "up" until the heartbeat goes stale.
    const stats = await runAideazz(["stats", "--db", `file:${db}`]);
    expect(stats.stdout).toMatch(/\n\s+analytics\s+stopped\s+\d+\s+\S+\s+—\s/);
  }, 90_000);

  it("an agent whose database directory cannot be made yet waits for it (/health 503 says why), then starts", async () => {
    const port = await freePort();
    const blocker = join(dir, "not-yet");
    await writeFile(blocker, ""); // a file where the database's directory should be: mkdir fails
    const config = join(dir, "not-yet.json");
    await writeConfig(config, [{ name: "analytics", port }], `file:${join(blocker, "aideazz.db")}`);
    const child = spawnAideazz(["agent", "analytics", "--config", config]);
    try {
      const exitedEarly = child.exited.then((code) => {
        throw new Error(`the agent exited (${code}):\n${child.output()}`);
      });
      const res = await Promise.race([waitForStatus(`http://127.0.0.1:${port}/health`, 503, 60_000), exitedEarly]);
      const body = await res.json();
      expect(body.status).toBe("starting");
      expect(body.db.detail).toContain(`cannot create the database's directory ${blocker}`);
      // Through a proxy (a forwarding header) the starting agent says only that it is starting.
      const proxied = await fetch(`http://127.0.0.1:${port}/health`, { headers: { "x-forwarded-for": "203.0.113.9" } });
      expect([proxied.status, await proxied.json()]).toEqual([503, { status: "starting" }]);
      await rm(blocker);
      await Promise.race([waitForStatus(`http://127.0.0.1:${port}/health`, 200, 60_000), exitedEarly]);
      child.proc.kill("SIGTERM");
      expect(await child.exited).toBe(0);
    } finally {
      child.proc.kill("SIGKILL");
    }
  }, 120_000);

  // No wait mends it (a store.url naming the wrong file): the agent fails once, saying why, as before it waited.
  it("an agent whose database file is not a database exits 1 saying so, rather than wait for it", async () => {
    const port = await freePort();
    const db = join(dir, "not-a-db.db");
    await writeFile(db, "this is not an SQLite database, but the config of something else\n".repeat(200));
    const config = join(dir, "not-a-db.json");
    await writeConfig(config, [{ name: "analytics", port }], `file:${db}`);
    const child = spawnAideazz(["agent", "analytics", "--config", config]);
    try {
      // Waiting: /health names a second attempt (a second after the first).
      const waiting = (async () => {
        for (;;) {
          const res = await waitForStatus(`http://127.0.0.1:${port}/health`, 503, 60_000);
          if ((await res.json()).db.detail.includes("attempt 2")) return "waiting";
        }
      })().catch(() => "no /health");
      expect(await Promise.race([child.exited, waiting])).toBe(1);
      expect(child.output()).toMatch(/not a database|SQLITE_NOTADB/);
      expect(child.output()).not.toContain("the agent waits for it");
    } finally {
      child.proc.kill("SIGKILL");
    }
  }, 120_000);

  it("/health answers 503 while another process holds the write lock past the busy timeout, 200 after", async () => {
    const port = await freePort();
    const db = join(dir, "locked.db");
    const config = join(dir, "locked.json");
    await writeConfig(config, [{ name: "analytics", port }], `file:${db}`);
    const child = spawnAideazz(["agent", "analytics", "--config", config]);
    try {
      await waitForStatus(`http://127.0.0.1:${port}/health`, 200, 60_000);
      const holder = spawn(process.execPath, [join(repoRoot, "test/support/hold-lock.mjs"), db], { stdio: ["pipe", "pipe", "inherit"] });
      await new Promise((resolve) => holder.stdout.once("data", resolve));
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      expect(res.status).toBe(503);
      expect((await res.json()).db).toEqual({ ok: false, detail: "database not writable (SQLITE_BUSY)" });
      holder.stdin.end();
      await new Promise((resolve) => holder.on("exit", resolve));
      await waitForStatus(`http://127.0.0.1:${port}/health`, 200, 20_000);
    } finally {
      child.proc.kill("SIGTERM");
      await child.exited;
    }
  }, 120_000);

  const isRoot = process.getuid?.() === 0;
  // Root ignores file modes, so "unwritable" is made real with a full file system (a small tmpfs).
  it.skipIf(!isRoot)("/health answers 503 when the database's disk is full, 200 again once space is freed", async () => {
    const mnt = join(dir, "full-mnt");
    await mkdir(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt]);
    const port = await freePort();
    const config = join(dir, "full.json");
    await writeConfig(config, [{ name: "analytics", port }], `file:${join(mnt, "full.db")}`);
    const child = spawnAideazz(["agent", "analytics", "--config", config]);
    try {
      await waitForStatus(`http://127.0.0.1:${port}/health`, 200, 60_000);
      spawnSync("dd", ["if=/dev/zero", `of=${join(mnt, "filler")}`, "bs=64k"]); // stops at ENOSPC
      const bad = await waitForStatus(`http://127.0.0.1:${port}/health`, 503, 20_000);
      const body = await bad.json();
      expect(body.status).toBe("degraded");
      expect(body.db).toEqual({ ok: false, detail: "database not writable (SQLITE_FULL)" });
      await rm(join(mnt, "filler"));
      await waitForStatus(`http://127.0.0.1:${port}/health`, 200, 20_000);
    } finally {
      child.proc.kill("SIGTERM");
      await child.exited;
      execFileSync("umount", ["-l", mnt]);
    }
  }, 120_000);
});
