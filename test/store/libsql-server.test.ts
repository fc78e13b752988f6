// The scale-out path: the same store and bus code against a real libSQL server (sqld over HTTP) instead of a file.
// Nothing per-connection can be set there and no file can be watched, so the bus polls; the SQL must be what the
// server accepts. The agents on it end to end: test/channels/e2e.test.ts.
import { spawn } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import process from "node:process";
import { type AgentDefinition, defineAgent, runAgent } from "../../src/agents/mod.ts";
import { type Consumer, createRetention, createSendLedger, createSqliteBus } from "../../src/bus/mod.ts";
import { isStoreUnavailable, migrate, openStore, type Store } from "../../src/store/mod.ts";
import { runBusContract } from "../bus/contract.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { serve } from "../../src/platform.ts";
import { runTestAgent } from "../support/agent.ts";
import { cli, denoBin, repoRoot, spawnAideazz, waitForStatus } from "../support/cli.ts";
import { runSqldTests, type Sqld, startSqld } from "../support/sqld.ts";
import { tempDir } from "../support/tmp.ts";
import { freePort } from "../support/ports.ts";

/**
 * A server of its own with a table of a million rows (an index over it takes about a second) and another client writing
 * into it every 50 ms all along, so sqld times out a transaction that holds the write lock past 5 s. `writes()` stops
 * that client and says how many of its writes went through.
 */
async function onBusyServer(fn: (s: { server: Sqld; store: Store; writes: () => Promise<number> }) => Promise<void>) {
  const server = await startSqld();
  const store = await openStore({ url: server.url });
  const other = await openStore({ url: server.url });
  let writing = true;
  try {
    await store.client.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
    await store.client.execute(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)
      INSERT INTO big SELECT x, (x * 7919) % 1000003 FROM c`);
    await other.client.execute("CREATE TABLE beats (at INTEGER NOT NULL)");
    // A waiting write that gives up (SQLITE_BUSY) tries again.
    const written = (async () => {
      let n = 0;
      while (writing) {
        n += await other.client.execute({ sql: "INSERT INTO beats VALUES (?)", args: [Date.now()] }).then(() => 1, () => 0);
        await new Promise((r) => setTimeout(r, 50));
      }
      return n;
    })();
    await fn({ server, store, writes: () => ((writing = false), written) });
  } finally {
    writing = false;
    store.close();
    other.close();
    await server.stop();
  }
}

/** A config file (in a new temporary directory) with one orchestrator agent on a free port, its store at `url`. */
async function orchestratorConfig(url: string, prefix: string) {
  const tmp = await tempDir(prefix);
  const port = await freePort();
  const config = join(tmp.dir, "aideazz.json");
  await writeFile(config, JSON.stringify({ store: { url }, agents: [{ name: "orchestrator", kind: "orchestrator", port }] }));
  return { tmp, port, config };
}

describe.runIf(runSqldTests)("libSQL server", () => {
  runBusContract("libsql server", async ({ now, random }) => {
    const sqld = await startSqld();
    try {
      const store = await openStore({ url: sqld.url });
      await migrate(store.client);
      const bus = createSqliteBus(store, { now, random, wake: { pollMinMs: 2, pollMaxMs: 10 } });
      return { bus, cleanup: async () => (store.close(), await sqld.stop()) };
    } catch (err) {
      await sqld.stop();
      throw err;
    }
  });

  describe("store", () => {
    let sqld: Sqld;
    beforeAll(async () => void (sqld = await startSqld()));
    afterAll(() => sqld?.stop());

    it("migrates a new database, and a second migration changes nothing", async () => {
      const store = await openStore({ url: sqld.url });
      try {
        await migrate(store.client);
        const tables = async () =>
          (await store.client.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).rows
            .map((r) => String(r["name"]));
        const first = await tables();
        expect(first).toContain("bus_messages");
        expect(first).toContain("bus_send_ledger");
        await migrate(store.client);
        expect(await tables()).toEqual(first);
        expect(await store.checkpoint()).toBe(true); // the server manages its own WAL
      } finally {
        store.close();
      }
    });

    // sqld rolls back a transaction that has held the write lock past its transaction timeout (5 s) once another
    // client waits to write: a migration's single request (batch) is no exception. Running agents always write.
    it("migrations longer together than the server's transaction timeout apply while another client writes", async () => {
      await onBusyServer(async ({ store, writes }) => {
        // About a second each over a million rows.
        const index = (i: number) => `CREATE INDEX big_${i} ON big (v + ${i})`;
        const ten = Array.from({ length: 10 }, (_, i) => ({ version: i + 1, name: `index ${i + 1}`, statements: [index(i + 1)] }));
        const started = Date.now();
        expect(await migrate(store.client, Date.now, ten)).toEqual({ applied: ten.map((m) => m.version), version: 10 });
        expect(Date.now() - started, "together longer than the server's limit").toBeGreaterThan(5_000);
        expect(await writes(), "the other client wrote meanwhile").toBeGreaterThan(0);
      });
    }, 120_000);

    // The same again and again: an agent that counted it as the store unavailable would wait for it forever.
    it("one migration alone longer than the server's transaction timeout fails once, saying what to do", async () => {
      await onBusyServer(async ({ store, writes }) => {
        const indexes = Array.from({ length: 20 }, (_, i) => `CREATE INDEX big_${i} ON big (v + ${i})`);
        const err = await migrate(store.client, Date.now, [{ version: 1, name: "twenty indexes", statements: indexes }])
          .catch((e: unknown) => e);
        await writes();
        expect(isStoreUnavailable(err), "no wait mends it").toBe(false);
        expect(String(err)).toContain("migration 1 (twenty indexes)");
        expect(String(err)).toContain("aideazz migrate");
      });
    }, 120_000);

    // @libsql/client awaits a batch's steps in order and stops at the first failure; sqld fails every later step of a
    // timed-out transaction too, and nothing awaited those (libsql-client-ts#126): under Deno, as under Node, an
    // unhandled rejection that ended the agent, or a CLI command before it printed its error.
    it("a batch the server rolls back (its transaction timeout) fails to its caller and the process carries on", async () => {
      await onBusyServer(async ({ server, store, writes }) => {
        // About a second each over a million rows: far past the server's 5 s.
        const indexes = Array.from({ length: 20 }, (_, i) => `CREATE INDEX big_${i} ON big (v + ${i})`);
        const child = spawn(denoBin, ["run", "-A", `${repoRoot}test/support/remote-batch.ts`, server.url, JSON.stringify(indexes)]);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
        await writes();
        expect(stderr, "the batch's later steps rejected unhandled").not.toContain("Transaction timed out");
        // Rolled back whole, as a write the lock kept out: unavailable for now (a webhook answers 503, the bus retries).
        expect(JSON.parse(stdout)).toMatchObject({
          ok: false,
          code: "TRANSACTION_TIMEOUT",
          unavailable: true,
          text: expect.stringContaining("Transaction timed out"),
          after: 1,
        });
        // Other unhandled rejections still end the process.
        expect(stderr).toContain("an unrelated rejection");
        expect(code).toBe(1);
        const made = await store.client.execute("SELECT count(*) AS n FROM sqlite_master WHERE name LIKE 'big_%'");
        expect(Number(made.rows[0]!["n"]), "rolled back whole").toBe(0);
      });
    }, 120_000);

    it("retention's statements run on the server: an old ledger row goes, a dead letter's reply keeps its rows", async () => {
      const store = await openStore({ url: sqld.url });
      try {
        await migrate(store.client);
        let t = Date.now();
        const bus = createSqliteBus(store, { now: () => t, wake: { pollMinMs: 2, pollMaxMs: 10 } });
        const ledger = createSendLedger(store, { now: () => t });
        await bus.subscribe("outbound.x", "egress");
        await bus.publish([{ topic: "outbound.x", key: "x:1", payload: { replyKey: "7:answer" } }]);
        const c = bus.consume({ topic: "outbound.x", group: "egress", maxAttempts: 1, handler: () => Promise.reject(new Error("no")) });
        while ((await bus.deadLetters()).length === 0) await new Promise((r) => setTimeout(r, 20));
        await c.stop();
        await ledger.begin("7:answer#0", 1);
        await ledger.begin("old#0", 1);
        t += 9 * 86_400_000;
        expect(await createRetention(store, { now: () => t }).runOnce()).toMatchObject({ ledger: 1 });
        expect(await ledger.begin("7:answer#0", 2)).toMatchObject({ status: "unknown" }); // still recorded
        await bus.close();
      } finally {
        store.close();
      }
    });

    it("the server refuses a statement given more arguments than it takes (a local file ignores them)", async () => {
      const store = await openStore({ url: sqld.url });
      try {
        await expect(store.client.execute({ sql: "SELECT ?1 + ?2 AS n", args: [1, 2, 3] })).rejects.toThrow(
          /too many parameters/,
        );
      } finally {
        store.close();
      }
    });

    it("a server gone, silent, or answering 5xx or 429 is unavailable (webhooks answer 503); a 4xx such as 401 is not", async () => {
      const failure = async (url: string) => {
        const store = await openStore({ url });
        try {
          return await store.durableBatch([{ sql: "SELECT 1", args: [] }]).then(() => undefined, (e: unknown) => e);
        } finally {
          store.close();
        }
      };
      // A proxy before the server answering with the status given.
      const answering = async (status: number) => {
        const server = createServer((req, res) => req.resume().on("end", () => res.writeHead(status).end("no")));
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        try {
          return await failure(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
        } finally {
          server.close();
        }
      };
      for (const status of [502, 503, 429]) expect(isStoreUnavailable(await answering(status)), String(status)).toBe(true);
      for (const status of [401, 400]) expect(isStoreUnavailable(await answering(status)), String(status)).toBe(false);
      // A host that takes the connection and never answers (a partition, a hung server): unavailable after the timeout.
      const silent = createTcpServer((socket) => socket.resume());
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      try {
        const store = await openStore({ url: `http://127.0.0.1:${(silent.address() as { port: number }).port}`, remoteTimeoutMs: 300 });
        const started = Date.now();
        const err = await store.durableBatch([{ sql: "SELECT 1", args: [] }]).then(() => undefined, (e: unknown) => e);
        store.close();
        expect(isStoreUnavailable(err)).toBe(true);
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        silent.close();
      }
      const gone = await startSqld();
      await gone.kill();
      expect(isStoreUnavailable(await failure(gone.url))).toBe(true);
      await gone.stop();
      expect(await failure(sqld.url)).toBeUndefined();
    });

    it("a server that cannot be reached: a command's error says so and names it, not only \"fetch failed\"", async () => {
      const url = `http://127.0.0.1:${await freePort()}`; // nothing listens there
      for (const args of [["migrate"], ["bus", "stats"], ["stats"]]) {
        const r = await cli([...args, "--db", url]);
        expect(r.code, args.join(" ")).toBe(1);
        expect(r.stderr, args.join(" ")).toContain(`cannot reach the libSQL server at ${url}`);
      }
      const store = await openStore({ url });
      const err = await store.durableBatch([{ sql: "SELECT 1", args: [] }]).then(() => undefined, (e: unknown) => e);
      store.close();
      expect(isStoreUnavailable(err)).toBe(true); // still an outage: webhooks answer 503
    });

    // The analytics agent's own check reads the store too: it is bounded by the same deadline.
    for (const kind of ["orchestrator", "analytics"]) {
      it(`a server that hangs: the ${kind} agent's /health answers within the health check's deadline, degraded, not down`, async () => {
        const hung = await startSqld();
        const port = await freePort();
        const config = loadConfig(JSON.stringify({
          store: { url: hung.url },
          agents: [{ name: kind, kind, port }],
          ops: { health: { timeoutMs: 2_000 } },
        }), {});
        const agent = await runTestAgent({ config, name: kind, secrets: {} });
        try {
          hung.pause(true);
          // No answer within ops.health.timeoutMs is "down", and `aideazz health --restart` restarts the agent.
          const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
          expect(res.status).toBe(503);
          expect((await res.json()).db).toMatchObject({ ok: false, detail: expect.stringContaining("no answer") });
        } finally {
          hung.pause(false);
          await agent.stop();
          await hung.stop();
        }
      }, 30_000);
    }

    it("an agent started while the server is down waits for it (unhealthy, a few log lines), then starts; SIGTERM ends the wait at once", async () => {
      const down = await startSqld();
      await down.kill();
      const { tmp, port, config } = await orchestratorConfig(down.url, "aideazz-sqld-wait-");
      const children = [spawnAideazz(["agent", "orchestrator", "--config", config])];
      try {
        const child = children[0]!;
        const exitedEarly = child.exited.then((code) => {
          throw new Error(`the agent exited (${code}) while the store was down:\n${child.output()}`);
        });
        // Its first answers may come before the first attempt failed ("opening the store").
        let body: { status: string; db: { detail: string } };
        do {
          const waiting = await Promise.race([waitForStatus(`http://127.0.0.1:${port}/health`, 503, 60_000), exitedEarly]);
          body = await waiting.json();
          expect(body.status).toBe("starting");
          if (body.db.detail === "opening the store") await new Promise((r) => setTimeout(r, 100));
        } while (body.db.detail === "opening the store");
        expect(body.db.detail).toContain(`cannot reach the libSQL server at ${down.url}`);
        // `aideazz health` reports it degraded with the reason (not down: a restart would not help).
        const health = await cli(["health", "--json", "--config", config]);
        const target = JSON.parse(health.stdout).targets.find((t: { target: string }) => t.target === "orchestrator");
        expect(target).toMatchObject({ level: "degraded", detail: expect.stringContaining("cannot reach the libSQL server") });
        await down.start();
        await Promise.race([waitForStatus(`http://127.0.0.1:${port}/health`, 200, 60_000), exitedEarly]);
        // process.kill: under Deno, ChildProcess.kill reports the exit as by the signal even when the child exits 0.
        process.kill(child.proc.pid!, "SIGTERM");
        expect(await child.exited).toBe(0);
        const lines = child.output().trim().split("\n").map((l) => JSON.parse(l) as { msg: string; store?: string });
        const waits = lines.filter((l) => l.msg.startsWith("store unavailable"));
        expect(waits.length).toBeGreaterThanOrEqual(1);
        expect(waits.length).toBeLessThanOrEqual(3); // one line per reason, not one per attempt
        expect(waits[0]!.store).toBe(`${down.url}/`); // named, without credentials
        expect(lines.map((l) => l.msg)).toContain("agent started");

        // Down again at the next start: SIGTERM while it waits exits at once, cleanly.
        await down.kill();
        const second = spawnAideazz(["agent", "orchestrator", "--config", config]);
        children.push(second);
        await waitForStatus(`http://127.0.0.1:${port}/health`, 503, 60_000);
        const signalled = Date.now();
        process.kill(second.proc.pid!, "SIGTERM");
        expect(await second.exited).toBe(0);
        expect(Date.now() - signalled).toBeLessThan(3_000);
      } finally {
        for (const c of children) c.proc.kill("SIGKILL");
        await down.stop();
        await tmp.cleanup();
      }
    }, 120_000);

    // systemd SIGKILLs an agent still running TimeoutStopSec (30 s) after its SIGTERM; the store's remote timeout is 60 s.
    it("an agent whose first attempt to open the store hangs on a server that never answers: SIGTERM exits 0 at once", async () => {
      const hung = await startSqld();
      const { tmp, port, config } = await orchestratorConfig(hung.url, "aideazz-sqld-hung-open-");
      hung.pause(true);
      const child = spawnAideazz(["agent", "orchestrator", "--config", config]);
      try {
        // The port answers while the attempt hangs; the attempt never ends on its own before the remote timeout.
        const body = await (await waitForStatus(`http://127.0.0.1:${port}/health`, 503, 60_000)).json();
        expect(body.db.detail).toBe("opening the store");
        const signalled = Date.now();
        process.kill(child.proc.pid!, "SIGTERM");
        const code = await Promise.race([child.exited, new Promise<string>((r) => setTimeout(r, 10_000, "running"))]);
        expect(code, `10 s after SIGTERM:\n${child.output()}`).toBe(0);
        expect(Date.now() - signalled).toBeLessThan(3_000);
        expect(child.output()).toContain("agent stopped before it started");
      } finally {
        child.proc.kill("SIGKILL");
        hung.pause(false);
        await hung.stop();
        await tmp.cleanup();
      }
    }, 60_000);

    // The same bound once the agent runs: its consumer's poll, its last metrics, its stop record and its checkpoint
    // would each wait out the remote timeout on a server that hangs.
    it("a running agent whose server hangs: SIGTERM exits 0 well within TimeoutStopSec, saying what was not written", async () => {
      const hung = await startSqld();
      const { tmp, port, config } = await orchestratorConfig(hung.url, "aideazz-sqld-hung-stop-");
      const child = spawnAideazz(["agent", "orchestrator", "--config", config]);
      try {
        await waitForStatus(`http://127.0.0.1:${port}/health`, 200, 60_000);
        hung.pause(true);
        const signalled = Date.now();
        process.kill(child.proc.pid!, "SIGTERM");
        const code = await Promise.race([child.exited, new Promise<string>((r) => setTimeout(r, 15_000, "running"))]);
        expect(code, `15 s after SIGTERM:\n${child.output()}`).toBe(0);
        expect(Date.now() - signalled).toBeLessThan(15_000);
        expect(child.output()).toContain("agent stopped");
        expect(child.output()).toContain("no answer from the libSQL server");
      } finally {
        child.proc.kill("SIGKILL");
        hung.pause(false);
        await hung.stop();
        await tmp.cleanup();
      }
    }, 90_000);

    // Each request of a stop is capped at 5 s, but an agent's stop makes many: its consumer waits for its handlers
    // (15 s for the orchestrator's turns), releases their leases, then its retention and housekeeping write. The runtime
    // gives the agent's stop 20 s in all, then goes on: a handler still running commits nothing, its message comes again.
    it("a busy agent whose server hangs: its stop ends within TimeoutStopSec and the abandoned message comes again once", async () => {
      const hung = await startSqld();
      const config = loadConfig(JSON.stringify({
        store: { url: hung.url },
        agents: [{ name: "orchestrator", kind: "orchestrator", port: await freePort() }],
      }), {});
      let handling = true;
      let calls = 0;
      const busy = defineAgent({
        kind: "orchestrator",
        summary: "a handler that keeps reading the store, not listening to its signal; a stop that writes after it",
        create({ store, log }) {
          const bus = createSqliteBus(store, { log, wake: { pollMinMs: 2, pollMaxMs: 10 } });
          let consumer: Consumer | undefined;
          return {
            async start() {
              await bus.subscribe("work", "g");
              consumer = bus.consume({
                topic: "work",
                group: "g",
                leaseMs: 2_000,
                handler: async () => {
                  calls++;
                  while (handling) await store.client.execute("SELECT 1").catch(() => {});
                },
              });
            },
            async stop() {
              await consumer?.stop(15_000);
              for (let i = 0; i < 3; i++) {
                const sql = "UPDATE agent_heartbeats SET seen_at = seen_at WHERE agent = ?";
                await store.client.execute({ sql, args: [`none-${i}`] }).catch(() => {});
              }
              await bus.close();
            },
          };
        },
      });
      let lines = "";
      const running = await runAgent({
        agent: config.agents[0]!,
        definition: busy as unknown as AgentDefinition,
        config,
        dbUrl: hung.url,
        secrets: {},
        log: createLogger({ agent: "orchestrator", secrets: [], write: (l) => (lines += l) }),
        version: "test",
        now: Date.now,
        fetch,
        serve,
        rssBytes: () => 0,
        pid: process.pid,
      });
      const other = await openStore({ url: hung.url });
      try {
        const bus = createSqliteBus(other, { wake: { pollMinMs: 2, pollMaxMs: 10 } });
        await bus.publish([{ topic: "work", key: "k", payload: { n: 1 } }]);
        while (calls === 0) await new Promise((r) => setTimeout(r, 10));
        hung.pause(true);
        const stopping = Date.now();
        await running.stop();
        const tookMs = Date.now() - stopping;
        expect(tookMs, lines).toBeGreaterThanOrEqual(20_000);
        expect(tookMs, "within TimeoutStopSec (30 s), with room for the exit").toBeLessThan(28_000);
        const warned = lines.trim().split("\n").map((l) => JSON.parse(l) as { level: string; msg: string; running?: number });
        expect(warned).toContainEqual(expect.objectContaining({ level: "warn", msg: expect.stringContaining("abandoned"), running: 1 }));
        expect(warned).toContainEqual(expect.objectContaining({ level: "warn", msg: expect.stringContaining("did not finish within 20000 ms") }));
        hung.pause(false);
        handling = false; // the abandoned handler returns now: its ack must not be written
        // The next process: the lease expires (2 s) and the message is handled once more, then acked.
        const again: number[] = [];
        const next = bus.consume({ topic: "work", group: "g", leaseMs: 2_000, handler: (d) => Promise.resolve(void again.push(d.attempt)) });
        const deadline = Date.now() + 20_000;
        while (again.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 500));
        await next.stop();
        expect(again).toEqual([2]);
        expect(await bus.stats()).toContainEqual(expect.objectContaining({ group: "g", ready: 0, inFlight: 0 }));
        await bus.close();
      } finally {
        handling = false;
        hung.pause(false);
        other.close();
        await hung.stop();
      }
    }, 120_000);

    it("a server gone: an agent's /health says why, not \"UNKNOWN\"", async () => {
      const gone = await startSqld();
      const port = await freePort();
      const config = loadConfig(JSON.stringify({
        store: { url: gone.url },
        agents: [{ name: "orchestrator", kind: "orchestrator", port }],
      }), {});
      const agent = await runTestAgent({ config, name: "orchestrator", secrets: {} });
      try {
        await gone.kill();
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        expect(res.status).toBe(503);
        expect((await res.json()).db.detail).toContain(`cannot reach the libSQL server at ${gone.url}`);
      } finally {
        await agent.stop();
        await gone.stop();
      }
    }, 30_000);

    it("a server that hangs: `aideazz health` says the database is down within the health check's deadline", async () => {
      const hung = await startSqld();
      const tmp = await tempDir("aideazz-sqld-health-");
      try {
        const config = join(tmp.dir, "aideazz.json");
        await writeFile(config, JSON.stringify({
          store: { url: hung.url },
          agents: [{ name: "orchestrator", kind: "orchestrator", port: await freePort() }], // not running
          ops: { health: { timeoutMs: 2_000 } },
        }));
        expect((await cli(["migrate", "--config", config])).code).toBe(0);
        hung.pause(true);
        const started = Date.now();
        const health = cli(["health", "--json", "--config", config]);
        const done = await Promise.race([health, new Promise<undefined>((r) => setTimeout(r, 15_000))]);
        expect(done, "aideazz health still running after 15 s").toBeDefined();
        expect(Date.now() - started).toBeLessThan(10_000);
        const checks = JSON.parse(done!.stdout).checks as { name: string; level: string }[];
        expect(checks.find((c) => c.name === "database")).toMatchObject({ level: "down" });
      } finally {
        hung.pause(false);
        await hung.stop();
        await tmp.cleanup();
      }
    }, 30_000);

    it("`aideazz backup` refuses it and names the server's own tools", async () => {
      const tmp = await tempDir("aideazz-sqld-backup-");
      try {
        const r = await cli(["backup", join(tmp.dir, "copy.db"), "--db", sqld.url]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain("is a libSQL server; back it up with the server's own tools");
      } finally {
        await tmp.cleanup();
      }
    });
  });
  describe("auth token", () => {
    // A server that takes only requests signed with this key (sqld's JWT auth), and a token it accepts.
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const unsigned = `${part({ alg: "EdDSA", typ: "JWT" })}.${part({ a: "rw" })}`;
    const token = `${unsigned}.${sign(null, Buffer.from(unsigned), privateKey).toString("base64url")}`;
    let sqld: Sqld;
    let dir: string;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      sqld = await startSqld(20_000, publicKey.export({ format: "jwk" }).x);
      ({ dir, cleanup } = await tempDir("aideazz-sqld-auth-"));
    });
    afterAll(async () => (await sqld?.stop(), await cleanup?.()));

    const configFile = async (store: Record<string, unknown>) => {
      const path = join(dir, `aideazz-${Object.keys(store).length}.json`);
      const agents = [{ name: "orchestrator", kind: "orchestrator", port: await freePort() }];
      await writeFile(path, JSON.stringify({ store: { url: sqld.url, ...store }, agents }));
      return path;
    };

    it("a wrong or missing token: commands and an agent's start say the server refused it and name store.authTokenEnv, never the token", async () => {
      const withToken = await configFile({ authTokenEnv: "DB_TOKEN" });
      const without = await configFile({});
      const wrong = `${unsigned}.${"A".repeat(86)}`;
      for (const [config, env] of [[withToken, { DB_TOKEN: wrong }], [without, {}]] as const) {
        for (const args of [["migrate"], ["bus", "stats"], ["stats"], ["agent", "orchestrator"]]) {
          const r = await cli([...args, "--config", config], { env });
          expect(r.code, args.join(" ")).toBe(1);
          expect(r.stderr, args.join(" ")).toMatch(/refused .*store\.authTokenEnv/);
          expect(r.stderr).not.toContain(wrong);
        }
        const health = await cli(["health", "--json", "--config", config], { env });
        const database = JSON.parse(health.stdout).checks.find((c: { name: string }) => c.name === "database");
        expect(database.detail).toMatch(/refused .*store\.authTokenEnv/);
      }
      const ok = await cli(["migrate", "--config", withToken], { env: { DB_TOKEN: token } });
      expect(ok.stderr).toBe("");
      expect(ok.code).toBe(0);
    }, 60_000);

    it("a token the server knows but refuses (expired, or read-only for a write): the error gives the server's reason", async () => {
      const signed = (claims: unknown) => {
        const head = `${part({ alg: "EdDSA", typ: "JWT" })}.${part(claims)}`;
        return `${head}.${sign(null, Buffer.from(head), privateKey).toString("base64url")}`;
      };
      const config = await configFile({ authTokenEnv: "DB_TOKEN" });
      const expired = await cli(["migrate", "--config", config], { env: { DB_TOKEN: signed({ a: "rw", exp: 1_000 }) } });
      expect(expired.code).toBe(1);
      expect(expired.stderr).toMatch(/refused the auth token \(.*expired.*\).*store\.authTokenEnv/);
      // An agent's start writes (migrate alone may only read: the database is already migrated).
      const readOnly = await cli(["agent", "orchestrator", "--config", config], { env: { DB_TOKEN: signed({ a: "ro" }) } });
      expect(readOnly.code).toBe(1);
      expect(readOnly.stderr).toMatch(/refused the auth token \(.*Write permission.*\)/);
    }, 30_000);

    it("--db or AIDEAZZ_DB replaces only the configured URL: the config's store.authTokenEnv still supplies the token", async () => {
      const config = await configFile({ url: "file:elsewhere.db", authTokenEnv: "DB_TOKEN" });
      const env = { DB_TOKEN: token };
      const migrated = await cli(["migrate", "--db", sqld.url, "--config", config], { env });
      expect(migrated.stderr).toBe("");
      expect(migrated.code).toBe(0);
      // The config found the usual way (./aideazz.json here), the URL from the environment.
      const cwd = join(dir, "cwd");
      await mkdir(cwd, { recursive: true });
      await writeFile(join(cwd, "aideazz.json"), await readFile(config, "utf8"));
      for (const args of [["bus", "stats"], ["stats"], ["health", "--json"]]) {
        const r = await cli(args, { env: { ...env, AIDEAZZ_DB: sqld.url }, cwd });
        expect(r.stderr, args.join(" ")).not.toMatch(/refused/);
        if (args[0] !== "health") expect(r.code, args.join(" ")).toBe(0);
        else expect(JSON.parse(r.stdout).checks.find((c: { name: string }) => c.name === "database").level).toBe("ok");
      }
      // A token in the URL still works (and wins over the configured one).
      const inUrl = await cli(["migrate", "--db", `${sqld.url}?authToken=${token}`, "--config", config], {
        env: { DB_TOKEN: "not-a-token" },
      });
      expect(inUrl.stderr).toBe("");
      expect(inUrl.code).toBe(0);
    }, 30_000);

    it("a 401 or 403 not from sqld (a proxy's page): the error names the status and the host, not a refused token", async () => {
      for (const status of [401, 403]) {
        const proxy = createServer((req, res) =>
          req.resume().on("end", () => res.writeHead(status, { "content-type": "text/html" }).end("<html>Authorization Required</html>"))
        );
        await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
        const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
        try {
          const r = await cli(["migrate", "--db", `${url}?authToken=${token}`]);
          expect(r.code).toBe(1);
          expect(r.stderr).toContain(`HTTP ${status} from ${url}, which is not a libSQL server's answer`);
          expect(r.stderr).not.toMatch(/refused/);
          expect(r.stderr).not.toContain(token);
        } finally {
          proxy.close();
        }
      }
      // sqld's own refusal, also through a proxy that passes it on, still says so.
      const r = await cli(["migrate", "--db", sqld.url]);
      expect(r.stderr).toContain("the libSQL server refused the request without an auth token");
    }, 30_000);

    it("a wrong token in the URL (--db …?authToken=, as the hint says): the error says the token was refused, not that none was sent", async () => {
      const wrong = `${unsigned}.${"B".repeat(86)}`;
      const r = await cli(["migrate", "--db", `${sqld.url}?authToken=${wrong}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("the libSQL server refused the auth token");
      expect(r.stderr).not.toContain(wrong);
      const none = await cli(["migrate", "--db", sqld.url]);
      expect(none.stderr).toContain("the libSQL server refused the request without an auth token");
      const ok = await cli(["migrate", "--db", `${sqld.url}?authToken=${token}`]);
      expect(ok.stderr).toBe("");
      expect(ok.code).toBe(0);
    }, 30_000);
  });
});
