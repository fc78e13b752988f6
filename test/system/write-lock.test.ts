// The system benchmark's write-lock figures (bench/system/measure.ts): an agent's `aideazz_store_lock_*`
// histograms read over HTTP from its `/metrics`, and what it did with the lock between two reads.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { lockUse, scrapeLocks } from "../../bench/system/measure.ts";
import { createMetrics, M } from "../../src/metrics/mod.ts";

let server: Server | undefined;
afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

/** A `/metrics` endpoint on loopback rendering `metrics` at each request. */
async function serve(render: () => string): Promise<number> {
  server = createServer((_req, res) => res.end(render()));
  await new Promise<void>((ready) => server!.listen(0, "127.0.0.1", ready));
  return (server.address() as AddressInfo).port;
}

describe("write-lock figures of the system benchmark", () => {
  it("reads an agent's lock histograms and reports the step's transactions, held share and p99s", async () => {
    const metrics = createMetrics();
    const port = await serve(() => metrics.render());
    metrics.observe(M.storeLockHold, 400); // before the step: not counted
    const before = (await scrapeLocks(port))!;
    for (let i = 0; i < 98; i++) {
      metrics.observe(M.storeLockHold, 0.2);
      metrics.observe(M.storeLockWait, 0.05);
    }
    metrics.observe(M.storeLockHold, 30);
    metrics.observe(M.storeLockHold, 30);
    metrics.observe(M.storeLockWait, 40);
    metrics.observe(M.storeLockWait, 40);
    const after = (await scrapeLocks(port))!;

    const use = lockUse(before, after, 2)!;
    expect(use.transactions).toBe(100);
    // 98 × 0.2 + 2 × 30 = 79.6 ms of 2,000 ms
    expect(use.held_pct).toBeCloseTo(4, 1);
    // rank 99 of 100 falls in the (25, 50] bucket, second of its two: 25 + 25 × 1/2
    expect(use.hold_p99_ms).toBeCloseTo(37.5, 1);
    expect(use.wait_p99_ms).toBeCloseTo(37.5, 1);
  });

  it("has no figures across a restart of the agent (its histograms start again from zero)", async () => {
    let metrics = createMetrics();
    const port = await serve(() => metrics.render());
    for (let i = 0; i < 10; i++) metrics.observe(M.storeLockHold, 1);
    metrics.observe(M.storeLockWait, 1);
    const before = (await scrapeLocks(port))!;
    metrics = createMetrics();
    metrics.observe(M.storeLockHold, 1);
    metrics.observe(M.storeLockWait, 1);
    expect(lockUse(before, (await scrapeLocks(port))!, 1)).toBeUndefined();
  });

  it("has no figures for an agent that does not answer", async () => {
    const port = await serve(() => "");
    server!.close();
    await new Promise((resolve) => server!.once("close", resolve));
    server = undefined;
    expect(await scrapeLocks(port)).toBeUndefined();
  });
});
