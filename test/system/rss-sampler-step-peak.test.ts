// The system bench's per-step peak RSS (bench/system/measure.ts startRssSampler). A V8 heap grows and shrinks
// between two 0.5 s VmRSS samples (the sampled peaks were 0.7–2.7 MiB low against VmHWM), so a step's peak also
// takes the kernel's VmHWM, reset at the step's start. Checked on a child of ours that allocates 64 MiB and frees
// it between two samples (the sampler here never samples: only VmHWM can see the spike).
import { type ChildProcess, spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { readMemory } from "../../bench/system/cluster.ts";
import { startRssSampler } from "../../bench/system/measure.ts";

const SPIKE_MB = 64;
/**
 * Answers "ok" to each line: "up" allocates and touches SPIKE_MB, "down" frees it (and collects it), answering once
 * the RSS is back within a quarter of it (V8 may free the backing store on a background thread), 2 s at most.
 */
const SCRIPT = `
const rl = require("node:readline").createInterface({ input: process.stdin });
let b;
let base = 0;
const ok = () => process.stdout.write("ok\\n");
rl.on("line", async (l) => {
  if (l === "up") {
    base = process.memoryUsage.rss();
    b = Buffer.alloc(${SPIKE_MB} << 20, 1);
  }
  if (l === "down") {
    b = undefined;
    globalThis.gc();
    const until = Date.now() + 2000;
    while (process.memoryUsage.rss() > base + (${SPIKE_MB} << 18) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  ok();
});
ok();
`;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

/** A child process and `send(line)`, which resolves on its "ok". */
async function spiker() {
  const child = spawn(process.execPath, ["--expose-gc", "-e", SCRIPT], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  let waiting: (() => void) | undefined;
  child.stdout!.on("data", () => waiting?.());
  const next = () => new Promise<void>((r) => (waiting = r));
  await next();
  const send = (line: string) => {
    const ok = next();
    child.stdin!.write(`${line}\n`);
    return ok;
  };
  /** Allocates and frees SPIKE_MB. */
  const spike = async () => {
    await send("up");
    await send("down");
  };
  return { pid: child.pid!, spike };
}

const rssMb = async (pid: number) => (await readMemory(pid))!.rssMb;

describe("startRssSampler's per-step peak", () => {
  it("includes a spike between two samples (VmHWM) and not one from before the step (reset clears VmHWM)", async () => {
    const p = await spiker();
    let pid: number | undefined = p.pid;
    const sampler = startRssSampler({ agents: new Map([["a", { name: "a", pid: () => pid }]]) }, 600_000);
    try {
      await p.spike(); // before the step: not its peak
      expect((await readMemory(p.pid))!.hwmMb - (await rssMb(p.pid))).toBeGreaterThan(SPIKE_MB / 2);
      await sampler.reset();
      const quiet = (await sampler.peak()).get("a")!;
      expect(quiet - (await rssMb(p.pid)), "peak right after reset()").toBeLessThan(SPIKE_MB / 2);

      await p.spike(); // during the step, between two samples
      const peak = (await sampler.peak()).get("a")!;
      expect(peak - (await rssMb(p.pid)), "the step's peak").toBeGreaterThan(SPIKE_MB / 2);
      expect(sampler.highest().get("a")).toBeGreaterThanOrEqual(peak);

      // Another process under the same name (the agent restarted): its VmHWM covers its own start, not the step.
      const q = await spiker();
      await q.spike();
      pid = q.pid;
      expect((await sampler.peak()).get("a")).toBeUndefined(); // no sample taken, and not q's VmHWM
    } finally {
      sampler.stop();
    }
  });

  it("highest() keeps what an agent reached after it exited, the peaks before each reset included", async () => {
    const p = await spiker();
    let pid: number | undefined = p.pid;
    const sampler = startRssSampler({ agents: new Map([["a", { name: "a", pid: () => pid }]]) }, 600_000);
    try {
      await sampler.reset(); // reads the VmHWM it is about to clear
      const before = (await readMemory(p.pid))!;
      await p.spike();
      await sampler.reset(); // the spike, before this step: not this step's peak, still the agent's highest
      children.splice(0).forEach((c) => c.kill("SIGKILL"));
      pid = undefined;
      expect(sampler.highest().get("a")).toBeGreaterThan(before.rssMb + SPIKE_MB / 2);
      expect((await sampler.peak()).get("a")).toBeUndefined();
    } finally {
      sampler.stop();
    }
  });
});
