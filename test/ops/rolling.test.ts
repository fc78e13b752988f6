// The update procedure under traffic: a health-guided rolling restart of every agent (one at a time, each
// healthy before the next) while messages keep flowing loses none and handles none twice. The longest delay
// it adds to a message is measured and printed.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import { probe, rollingRestart, RollingRestartError } from "../../src/ops/mod.ts";
import { sleep } from "../../src/platform.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { createFakeSystemd } from "./fake-manager.ts";
import { doneRows, fixtureSpec, health, openBus, supervise, until, writeConfig } from "./support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-roll-")));
afterAll(() => cleanup());

const quiet = createLogger({ agent: "test", secrets: [], write: () => {} });

describe("rolling restart", () => {
  it(
    "under steady traffic: every message handled exactly once; reports the longest delay it caused",
    async () => {
      const names = ["w1", "w2", "w3"];
      const ports = await Promise.all(names.map(() => freePort()));
      const db = `file:${join(dir, "roll.db")}`;
      const config = join(dir, "roll.json");
      await writeConfig(config, names.map((name, i) => ({ name, port: ports[i]! })), db);
      const tb = await openBus(db);
      for (const n of names) await tb.bus.subscribe(`work.${n}`, n);
      const { supervisor, output } = supervise(names.map((n) => fixtureSpec("bus", n, config)), {
        env: { FIXTURE_HANDLER_MS: "100", FIXTURE_STOP_MS: "10000" },
      });
      supervisor.start();
      let publishing = true;
      const publishErrors: string[] = [];
      const published = new Map(names.map((n) => [n, 0]));
      try {
        for (const p of ports) await until("healthy", async () => (await health(p))?.status === 200);
        const before = await Promise.all(ports.map(async (p) => (await health(p))!.body.pid));
        // The publisher stands in for a channel agent: a publish that fails was never acknowledged (the
        // platform would redeliver it), so only successful publishes count; failures are reported.
        const publisher = (async () => {
          for (let i = 0; publishing; i++) {
            try {
              await tb.bus.publish(
                names.map((n) => ({
                  topic: `work.${n}`,
                  key: `chat-${i % 5}`,
                  payload: { sentAt: Date.now(), i },
                })),
              );
              for (const n of names) published.set(n, published.get(n)! + 1);
            } catch (err) {
              publishErrors.push((err as Error).message);
            }
            await sleep(50);
          }
        })();
        await sleep(1_000); // steady state first
        const steps = await rollingRestart(
          names.map((n, i) => ({
            name: n,
            unit: `aideazz-agent@${n}.service`,
            healthUrl: `http://127.0.0.1:${ports[i]}/health`,
          })),
          { waitHealthyMs: 60_000, pollMs: 100, settleMs: 1_000 },
          {
            manager: supervisor,
            probe: (url) => probe(url, { fetch, timeoutMs: 2_000, now: Date.now, sleep, attempts: 1 }),
            now: Date.now,
            sleep,
            log: quiet,
          },
        );
        await sleep(1_000);
        publishing = false;
        await publisher;
        expect(steps.map((s) => s.name)).toEqual(names);
        const after = await Promise.all(ports.map(async (p) => (await health(p))!.body.pid));
        for (let i = 0; i < names.length; i++) expect(after[i]).not.toBe(before[i]);
        const total = [...published.values()].reduce((a, b) => a + b, 0);
        const rows = await until("all handled", async () => {
          const r = await doneRows(tb.store);
          return r.length === total && r;
        }, 60_000);
        for (const n of names) expect(rows.filter((r) => r.agent === n)).toHaveLength(published.get(n)!);
        expect(rows.filter((r) => r.deliveries !== 1)).toEqual([]);
        const delays = rows.map((r) => r.doneAt - r.sentAt).sort((a, b) => a - b);
        const longest = delays.at(-1)!;
        const p50 = delays[Math.floor(delays.length / 2)]!;
        console.log(
          `rolling restart of ${names.length} agents under traffic: ${total} messages, lost 0, duplicates 0, ` +
            `publish errors ${publishErrors.length} ${JSON.stringify([...new Set(publishErrors)])}; ` +
            `delay p50 ${p50} ms, longest ${longest} ms; per agent restart/healthy ms: ${
              steps.map((s) => `${s.name} ${s.restartMs}/${s.healthyAfterMs}`).join(", ")
            }`,
        );
        expect(longest).toBeLessThan(15_000);
      } catch (err) {
        console.log(`agents' output (last 4000 characters):\n${output().slice(-4_000)}`);
        throw err;
      } finally {
        publishing = false;
        await supervisor.stop();
        await tb.close();
      }
    },
    180_000,
  );

  it("an agent that answers 200 and then crashes (a bad binary) stops the roll; the rest keep running", async () => {
    let now = 0;
    const systemd = createFakeSystemd(() => now, () => ({ active: "active", sub: "running", result: "success" }));
    const targets = ["a", "b", "c"].map((n) => ({
      name: n,
      unit: `aideazz-agent@${n}.service`,
      healthUrl: `http://x/${n}`,
    }));
    // b's new process answers once, then crashes; systemd starts another (a new pid) that crashes the same way.
    let bProbes = 0;
    const err = await rollingRestart(targets, { waitHealthyMs: 60_000, pollMs: 1_000, settleMs: 10_000 }, {
      manager: systemd,
      probe: (url) => {
        if (!url.endsWith("/b")) return Promise.resolve({ answered: true, status: 200, body: { pid: 7 }, ms: 0 });
        bProbes++;
        return Promise.resolve(
          bProbes % 8 === 1
            ? { answered: true, status: 200, body: { pid: 100 + bProbes }, ms: 0 }
            : { answered: false, error: "connection refused", ms: 0 },
        );
      },
      now: () => now,
      sleep: (ms) => Promise.resolve(void (now += ms)),
      log: quiet,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(RollingRestartError);
    expect(err.message).toContain('rolling restart stopped at agent "b": not healthy 60 s after its restart');
    expect(systemd.calls.filter((c) => c.op === "restart").map((c) => c.unit)).toEqual([
      "aideazz-agent@a.service",
      "aideazz-agent@b.service",
    ]);
  });

  it("rolling every agent leaves one an operator stopped stopped, and says so; the others restart", async () => {
    let now = 0;
    const systemd = createFakeSystemd(() => now, () => ({ active: "active", sub: "running", result: "success" }));
    for (const n of ["a", "c"]) {
      systemd.units.set(`aideazz-agent@${n}.service`, { active: "active", sub: "running", result: "success" });
    }
    systemd.units.set("aideazz-agent@b.service", { active: "inactive", sub: "dead", result: "success" });
    const targets = ["a", "b", "c"].map((n) => ({
      name: n,
      unit: `aideazz-agent@${n}.service`,
      healthUrl: `http://x/${n}`,
    }));
    const steps = await rollingRestart(targets, { waitHealthyMs: 5_000, pollMs: 1_000, skipStopped: true }, {
      manager: systemd,
      probe: () => Promise.resolve({ answered: true, status: 200, ms: 0 }),
      now: () => now,
      sleep: (ms) => Promise.resolve(void (now += ms)),
      log: quiet,
    });
    expect(systemd.calls.filter((c) => c.op === "restart").map((c) => c.unit)).toEqual([
      "aideazz-agent@a.service",
      "aideazz-agent@c.service",
    ]);
    expect(steps.map((s) => [s.name, s.skipped])).toEqual([
      ["a", undefined],
      ["b", "stopped (inactive): left stopped"],
      ["c", undefined],
    ]);
  });

  it("stops at the first agent that does not come back healthy; the ones after it are not touched", async () => {
    let now = 0;
    const systemd = createFakeSystemd(
      () => now,
      () => ({ active: "active", sub: "running", result: "success" }),
    );
    const targets = ["a", "b", "c"].map((n) => ({
      name: n,
      unit: `aideazz-agent@${n}.service`,
      healthUrl: `http://x/${n}`,
    }));
    const err = await rollingRestart(targets, { waitHealthyMs: 5_000, pollMs: 1_000 }, {
      manager: systemd,
      probe: (url) =>
        Promise.resolve(
          url.endsWith("/b")
            ? { answered: false, error: "connection refused", ms: 0 }
            : { answered: true, status: 200, ms: 0 },
        ),
      now: () => now,
      sleep: (ms) => Promise.resolve(void (now += ms)),
      log: quiet,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(RollingRestartError);
    expect(err.message).toBe(
      'rolling restart stopped at agent "b": not healthy 5 s after its restart (connection refused); agents after it were not restarted',
    );
    expect(err.done.map((s: { name: string }) => s.name)).toEqual(["a"]);
    expect(systemd.calls.filter((c) => c.op === "restart").map((c) => c.unit)).toEqual([
      "aideazz-agent@a.service",
      "aideazz-agent@b.service",
    ]);
  });
});
