// One small real run of `npm run bench -- system` (6 agents, the fakes, wrk; hit steps 20/s and 40/s of 6 s):
// during the 40/s step one Telegram agent (tg2) is frozen (SIGSTOP) until wrk has ended, so the webhooks wrk
// posted to it are never answered within the step. A platform calls each a failed delivery (Telegram retries an
// unanswered webhook): system.json must count them as errors, and that step cannot be the headline. Nothing here
// depends on meeting the ack target (the filter itself: system-bench-summary.test.ts).
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

const deno = join(repoRoot, "node_modules/.bin/deno");
const SECONDS = 6;

interface Dist {
  n: number;
  p50: number;
  p99: number;
}
interface Step {
  offered_per_s: number;
  sent: number;
  unsent: number;
  ack_2xx: number;
  errors: number;
  unanswered: number;
  missing_replies: number;
  ack_ms: Dist;
}
interface SystemJson {
  offered_per_s: number;
  ack_p99_ms: number;
  replies_per_s: number;
  runs: { six: { hits: Step[] } };
}

/** Pid of the agent `name` whose config is `config` (its command line: `… agent <name> --config <config>`). */
async function agentPid(name: string, config: string): Promise<number | undefined> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    const args = cmd.split("\0");
    const i = args.indexOf("agent");
    if (i >= 0 && args[i + 1] === name && args[i + 3] === config) return Number(entry);
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether a wrk process of process group `pgid` runs (the load generator's, for this step). */
async function wrkRunning(pgid: number): Promise<boolean> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // state ppid pgrp …
    if (name === "wrk" && Number(fields[2]) === pgid) return true;
  }
  return false;
}

let result: SystemJson;
let log = "";
let frozen: { pid: number; at: number; until: number } | undefined;
let cleanup: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const tmp = await tempDir("aideazz-benchsys-");
  cleanup = tmp.cleanup;
  const work = join(tmp.dir, "work");
  const out = join(tmp.dir, "system.json");
  const child = spawn(
    deno,
    [
      "run", "-A", "bench/system/main.ts", "--steps", "20,40", "--seconds", String(SECONDS),
      "--no-llama", "--skip", "twelve,classic,bound,model,floor,defaults,profile,v8", "--dir", work, "--out", out,
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, NO_COLOR: "1" } },
  );
  let freezing: Promise<void> | undefined;
  child.stdout!.on("data", (c) => {
    log += c;
    // The 20/s step's line: the 40/s step starts now. Freeze tg2 until wrk has surely ended (its run lasts the
    // step's seconds + 0.5 s start + 2 s tail, after the load generator's own start), then let it go on.
    if (!freezing && /^\s*6 hits\s+20\/s/m.test(log)) {
      freezing = (async () => {
        const pid = await agentPid("tg2", join(work, "six", "aideazz.json"));
        if (pid === undefined) return;
        // The step scrapes every agent's /metrics first (5 s timeout each): freeze only once wrk runs.
        for (const end = Date.now() + 30_000; !(await wrkRunning(child.pid!)) && Date.now() < end;) await sleep(20);
        process.kill(pid, "SIGSTOP");
        const at = Date.now();
        await sleep((SECONDS + 5) * 1000);
        process.kill(pid, "SIGCONT");
        frozen = { pid, at, until: Date.now() };
      })();
    }
  });
  child.stderr!.on("data", (c) => (log += c));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch { /* gone */ }
  }, 200_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  await freezing;
  if (code !== 0) throw new Error(`bench exited ${code}:\n${log.slice(-3_000)}`);
  result = JSON.parse(await readFile(out, "utf8")) as SystemJson;
}, 240_000);

afterAll(async () => {
  await cleanup?.();
});

describe("system.json when an agent never answers its webhooks", () => {
  it("the agent was frozen during the 40/s step, and the webhooks posted to it went unanswered", () => {
    expect(frozen, log.slice(-2_000)).toBeDefined();
    const s40 = result.runs.six.hits.find((s) => s.offered_per_s === 40)!;
    expect(s40, log.slice(-2_000)).toBeDefined();
    expect(s40.unanswered, JSON.stringify(s40).slice(0, 600)).toBeGreaterThan(0);
    expect(s40.unanswered).toBe(s40.sent - s40.ack_ms.n);
  });

  it("counts every webhook sent and not acknowledged 2xx as an error", () => {
    for (const s of result.runs.six.hits) {
      expect(s.errors, `${s.offered_per_s}/s: sent ${s.sent}, acknowledged 2xx ${s.ack_2xx}, errors ${s.errors}`)
        .toBe(s.sent - s.ack_2xx);
    }
  });

  it("does not take the headline from a step with unanswered or unsent webhooks", () => {
    const head = result.runs.six.hits.find((s) => s.offered_per_s === result.offered_per_s)!;
    expect(
      head.sent - head.ack_2xx + head.unsent,
      `headline step ${result.offered_per_s}/s (ack_p99_ms ${result.ack_p99_ms}, replies_per_s ${result.replies_per_s}): ` +
        `sent ${head.sent}, acknowledged 2xx ${head.ack_2xx}, never sent ${head.unsent}, errors ${head.errors}`,
    ).toBe(0);
  });
});
