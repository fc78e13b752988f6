// RELIABILITY.md E6: SIGTERM with work in flight → the agent answers 503 + Retry-After, stops claiming,
// finishes (or, past its stop budget, releases) its leases within the unit's TimeoutStopSec, exits 0, and
// leaves zero rows claimed by it; after a restart every message is handled exactly once.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STOP_TIMEOUT_SEC } from "../../src/ops/mod.ts";
import { type ChildHandle, spawn } from "../../src/platform.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { baseEnv, doneRows, fixtureTs, health, leasedRows, openBus, until, writeConfig } from "./support.ts";
import { denoBin } from "../support/cli.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-term-")));
afterAll(() => cleanup());

function startFixture(
  name: string,
  config: string,
  env: Record<string, string>,
): { child: ChildHandle; lines: string[] } {
  const lines: string[] = [];
  const child = spawn(denoBin, ["run", "-A", fixtureTs, "bus", name, config], {
    env: { ...baseEnv, ...env },
    onLine: (l) => lines.push(l),
  });
  return { child, lines };
}

async function scenario(name: string, env: { handlerMs: number; stopMs: number }) {
  const port = await freePort();
  const db = `file:${join(dir, `${name}.db`)}`;
  const config = join(dir, `${name}.json`);
  await writeConfig(config, [{ name, port }], db);
  const tb = await openBus(db);
  await tb.bus.subscribe(`work.${name}`, name);
  await tb.bus.publish(
    Array.from(
      { length: 6 },
      (_, i) => ({ topic: `work.${name}`, key: `chat-${i}`, payload: { sentAt: Date.now(), i } }),
    ),
  );
  const { child, lines } = startFixture(name, config, {
    FIXTURE_HANDLER_MS: String(env.handlerMs),
    FIXTURE_STOP_MS: String(env.stopMs),
  });
  await until("healthy", async () => (await health(port))?.status === 200);
  await until(
    "four leases in flight",
    async () => (await leasedRows(tb.store, `${name}-${child.pid}`)) === 4,
  );
  const t0 = Date.now();
  child.kill("SIGTERM");
  // While it finishes its work, new requests are refused with 503 + Retry-After.
  const during = await until("503 while stopping", async () => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(1_000) });
      return res.status === 503 && res;
    } catch {
      return undefined;
    }
  }, 5_000);
  expect(during.headers.get("retry-after")).toBe("5");
  const status = await child.exited;
  const stopMs = Date.now() - t0;
  const claimedByIt = await leasedRows(tb.store, `${name}-${child.pid}`);
  const afterStop = await doneRows(tb.store, name);
  // Restart: whatever was not finished is handled now, once.
  const again = startFixture(name, config, { FIXTURE_HANDLER_MS: "20" });
  const all = await until("all six handled", async () => {
    const r = await doneRows(tb.store, name);
    return r.length === 6 && r;
  });
  again.child.kill("SIGTERM");
  expect((await again.child.exited).code).toBe(0);
  await tb.close();
  return { status, stopMs, claimedByIt, afterStop, all, lines };
}

describe("SIGTERM with leases in flight (E6)", () => {
  it("finishes the handlers in flight, claims nothing new, exits 0 well within TimeoutStopSec", async () => {
    const r = await scenario("finisher", { handlerMs: 1_500, stopMs: 10_000 });
    expect(r.status).toEqual({ code: 0, signal: null });
    expect(r.stopMs).toBeLessThan(STOP_TIMEOUT_SEC * 1000);
    expect(r.claimedByIt).toBe(0);
    expect(r.afterStop).toHaveLength(4); // the four in flight finished; the other two were not claimed
    expect(r.all.map((x) => x.deliveries)).toEqual([1, 1, 1, 1, 1, 1]);
    const msgs = r.lines.map((l) => {
      try {
        return JSON.parse(l).msg;
      } catch {
        return l;
      }
    });
    expect(msgs).toEqual(expect.arrayContaining(["signal received", "agent stopping", "agent stopped"]));
  }, 120_000);

  it(
    "past its stop budget it releases the leases (not lost, attempt not counted), and still exits 0 in time",
    async () => {
      const r = await scenario("releaser", { handlerMs: 600_000, stopMs: 1_500 });
      expect(r.status).toEqual({ code: 0, signal: null });
      expect(r.stopMs).toBeLessThan(STOP_TIMEOUT_SEC * 1000);
      expect(r.stopMs).toBeGreaterThanOrEqual(1_500);
      expect(r.claimedByIt).toBe(0);
      expect(r.afterStop).toHaveLength(0);
      expect(r.all.map((x) => x.deliveries)).toEqual([1, 1, 1, 1, 1, 1]);
      expect(r.all.map((x) => x.attempt)).toEqual([1, 1, 1, 1, 1, 1]); // a released lease does not count as an attempt
    },
    120_000,
  );
});
