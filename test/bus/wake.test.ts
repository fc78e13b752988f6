// Wake-ups across processes (src/bus/wake.ts): a publish touches its topic's file in the wake directory, and
// only consumers of that topic wake up. Two hubs on one directory stand for two processes (each has its own
// inotify watch, exactly as separate processes do).
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

function hub() {
  const h = createWakeHub(join(dir, "db-wake"), { fallbackMs: 60_000 });
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

  it("wakes consumers in its own process directly", () => {
    const h = hub();
    let woken = 0;
    h.listen("inbound", () => woken++);
    h.notify(["inbound"]);
    expect(woken).toBeGreaterThanOrEqual(1);
  });
});
