// Wake-ups across processes (src/bus/wake.ts): a publish writes into its topic's file in the wake directory, and
// only consumers of that topic wake up. Two hubs on one directory stand for two processes (each has its own
// inotify watch, exactly as separate processes do).
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createWakeHub, type WakeHub } from "../../src/bus/wake.ts";
import { tempDir } from "../support/tmp.ts";
import { sleep, waitFor } from "./contract.ts";

let dir: string;
let cleanup: () => Promise<void>;
const hubs: WakeHub[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir("aideazz-wake-")));
afterEach(async () => {
  for (const h of hubs.splice(0)) h.close();
  await cleanup();
});

function hub(fallbackMs = 60_000) {
  const h = createWakeHub(join(dir, "db-wake"), { fallbackMs });
  hubs.push(h);
  return h;
}

describe("wake hub", () => {
  it("wakes another process's consumers of the published topic only", async () => {
    const publisher = hub();
    const consumer = hub();
    const woken: string[] = [];
    for (const topic of ["inbound", "outbound.tg 1/x"]) consumer.listen(topic, () => woken.push(topic));
    await sleep(50); // the watch is set up
    publisher.notify(["outbound.other"]);
    await sleep(150);
    expect(woken).toEqual([]);
    publisher.notify(["outbound.tg 1/x"]);
    await waitFor(() => woken.length > 0, "the wake-up", 2_000);
    expect(new Set(woken)).toEqual(new Set(["outbound.tg 1/x"]));
    woken.length = 0;
    publisher.notify(["inbound"]);
    await waitFor(() => woken.length > 0, "the second wake-up", 2_000);
    expect(new Set(woken)).toEqual(new Set(["inbound"]));
  });

  it("keeps waking another process's consumers after the wake directory was removed", async () => {
    const publisher = hub(200);
    const consumer = hub(200);
    let woken = 0;
    consumer.listen("inbound", () => woken++);
    expect(consumer.idleDelayMs("inbound", 5)).toBe(200); // watched: only the slow safety-net poll
    publisher.notify(["inbound"]);
    await waitFor(() => woken > 0, "the wake-up", 2_000);
    await rm(join(dir, "db-wake"), { recursive: true, force: true });
    await sleep(1_300); // the consumer watches the new file after 200 ms; the publisher checks its file each second
    woken = 0;
    publisher.notify(["inbound"]);
    await waitFor(() => woken > 0, "the wake-up after the removal", 2_000);
  });

  it("wakes consumers in its own process directly", () => {
    const h = hub();
    let woken = 0;
    h.listen("inbound", () => woken++);
    h.notify(["inbound"]);
    expect(woken).toBeGreaterThanOrEqual(1);
  });
});
