// Real agent processes under the supervisor behind `aideazz up`: kill -9 → restarted; a crash loop backs off
// and is given up on while the others keep running; RELIABILITY.md E2: a leaking agent is killed at its
// memory limit (the supervisor polls VmRSS, like systemd's MemoryMax=), restarted, its leases redelivered,
// and the other agent is unaffected.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kill } from "../../src/platform.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import {
  agentSpec,
  doneRows,
  fixtureSpec,
  health,
  openBus,
  supervise,
  until,
  writeConfig,
} from "./support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-sup-")));
afterAll(() => cleanup());

/** Polls an agent's /health every 100 ms until stopped; counts answers that were not 200. */
function watch(port: number) {
  let failures = 0;
  let polls = 0;
  const pids = new Set<number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const h = await health(port);
      polls++;
      if (h?.status !== 200) failures++;
      if (h?.body.pid) pids.add(h.body.pid);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { failures, polls, pids: [...pids] };
    },
  };
}

describe("supervisor with real agent processes", () => {
  it(
    "kill -9 of one agent: it is restarted with a new pid; the other keeps answering with the same pid",
    async () => {
      const [pa, pb] = [await freePort(), await freePort()];
      const config = join(dir, "kill9.json");
      await writeConfig(
        config,
        [{ name: "a", port: pa }, { name: "b", port: pb }],
        `file:${join(dir, "kill9.db")}`,
      );
      const { supervisor, events } = supervise([agentSpec("a", config), agentSpec("b", config)]);
      supervisor.start();
      try {
        const first = await until(
          "a healthy",
          async () => (await health(pa))?.status === 200 && (await health(pa))!.body.pid,
        );
        await until("b healthy", async () => (await health(pb))?.status === 200);
        const b = watch(pb);
        const { pid } = await supervisor.status("aideazz-agent@a.service");
        expect(pid).toBe(first);
        kill(pid!, "SIGKILL");
        const second = await until("a restarted", async () => {
          const h = await health(pa);
          return h?.status === 200 && h.body.pid !== first && h.body.pid;
        });
        expect(second).not.toBe(first);
        const seen = await b.stop();
        expect(seen.failures).toBe(0);
        expect(seen.pids).toHaveLength(1);
        expect(events.find((e) => e["msg"] === "agent exited; restarting")).toMatchObject({
          agent: "a",
          exit: "killed by SIGKILL",
        });
        expect((await supervisor.status("aideazz-agent@a.service")).active).toBe("active");
      } finally {
        await supervisor.stop();
      }
    },
    120_000,
  );

  it(
    "a crash loop backs off (growing gaps, never below the minimum) and is given up on; the other agent keeps running",
    async () => {
      const pb = await freePort();
      const config = join(dir, "loop.json");
      await writeConfig(config, [{ name: "b", port: pb }], `file:${join(dir, "loop.db")}`);
      // "nosuch" is not in the config: `aideazz agent nosuch` exits 1 at once, every time.
      const { supervisor, events, output } = supervise(
        [agentSpec("nosuch", config), agentSpec("b", config)],
        { minMs: 300, maxMs: 1_200, perHour: 4 },
      );
      supervisor.start();
      try {
        await until("b healthy", async () => (await health(pb))?.status === 200);
        const gaveUp = await until(
          "giving up",
          () => events.find((e) => e["msg"] === "agent failed: giving up"),
          60_000,
        );
        expect(gaveUp).toMatchObject({
          agent: "nosuch",
          exit: "exited with code 1",
          reason: "4 restarts in the last hour (ceiling 4)",
        });
        expect(String(gaveUp["lastOutput"])).toContain('no agent named "nosuch"');
        const starts = events.filter((e) => e["msg"] === "agent started" && e["agent"] === "nosuch").map((
          e,
        ) => Number(e["at"]));
        expect(starts).toHaveLength(5); // the first start and 4 restarts
        const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
        // Start-to-start gaps are at least the back-off: 300, 300, 600, 1200 ms (doubling, capped at 1200).
        [300, 300, 600, 1_200].forEach((min, i) => expect(gaps[i]!).toBeGreaterThanOrEqual(min));
        expect(await supervisor.status("aideazz-agent@nosuch.service")).toMatchObject({
          active: "failed",
          result: "start-limit-hit",
        });
        expect((await health(pb))?.status).toBe(200);
        expect(output()).toMatch(/^nosuch \| agent: no agent named "nosuch"/m);
        // reset-failed + restart (what the health job does) starts it again.
        await supervisor.resetFailed("aideazz-agent@nosuch.service");
        await supervisor.restart("aideazz-agent@nosuch.service");
        await until(
          "started again",
          () => events.filter((e) => e["msg"] === "agent started" && e["agent"] === "nosuch").length === 6,
        );
      } finally {
        await supervisor.stop();
      }
    },
    120_000,
  );

  it(
    "E2: a leaking agent is killed at its memory limit and restarted, its leases are redelivered, the other agent is unaffected",
    async () => {
      const [pl, ps] = [await freePort(), await freePort()];
      const db = `file:${join(dir, "leak.db")}`;
      const config = join(dir, "leak.json");
      await writeConfig(config, [{ name: "leaky", port: pl }, { name: "steady", port: ps }], db);
      const tb = await openBus(db);
      await tb.bus.subscribe("work.leaky", "leaky");
      await tb.bus.publish(
        Array.from(
          { length: 4 },
          (_, i) => ({ topic: "work.leaky", key: `chat-${i}`, payload: { sentAt: Date.now(), i } }),
        ),
      );
      const limit = 300 * 1024 * 1024;
      const { supervisor, events } = supervise([
        fixtureSpec("leak-once", "leaky", config, limit),
        agentSpec("steady", config),
      ], {
        memoryPollMs: 100,
        env: { FIXTURE_MARKER: join(dir, "leak.marker"), FIXTURE_LEASE_MS: "3000", FIXTURE_HANDLER_MS: "50" },
      });
      supervisor.start();
      try {
        await until("steady healthy", async () => (await health(ps))?.status === 200);
        const steady = watch(ps);
        const killed = await until(
          "killed over its limit",
          () => events.find((e) => e["msg"] === "agent over its memory limit: SIGKILL"),
          60_000,
        );
        expect(killed).toMatchObject({ agent: "leaky", memoryMax: "300.0 MiB" });
        // Over the limit in bytes; shown to a tenth of a MiB, so 300.04 MiB reads "300.0 MiB".
        expect(Number.parseFloat(String(killed["rss"]))).toBeGreaterThanOrEqual(300);
        const exited = await until(
          "exit seen",
          () => events.find((e) => e["msg"] === "agent exited; restarting" && e["agent"] === "leaky"),
        );
        expect(exited).toMatchObject({ exit: "killed over its memory limit" });
        // The next incarnation does not leak; it gets the four messages once their leases expire.
        const rows = await until("4 messages handled", async () => {
          const r = await doneRows(tb.store, "leaky");
          return r.length === 4 && r;
        }, 60_000);
        for (const r of rows) expect(r.deliveries).toBe(1);
        expect(Math.max(...rows.map((r) => r.attempt))).toBeGreaterThanOrEqual(2); // redelivered after the kill
        expect((await health(pl))?.status).toBe(200);
        const seen = await steady.stop();
        expect(seen).toMatchObject({ failures: 0 });
        expect(seen.pids).toHaveLength(1);
      } finally {
        await supervisor.stop();
        await tb.close();
      }
    },
    180_000,
  );
});
