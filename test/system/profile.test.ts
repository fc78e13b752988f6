// The system benchmark's profile summary (bench/system/profile.ts): samples put in categories by their stack,
// our innermost function per sample, and CPU per thread from /proc.
import { describe, expect, it } from "vitest";
import { parseProcStat } from "../../bench/system/measure.ts";
import { type CpuProfile, summarizeProfile, threadCpu, threadShare } from "../../bench/system/profile.ts";

const SRC = "file:///work/app/src";
const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });

/** root → children; each entry [id, frame, children]. */
function profile(nodes: [number, ReturnType<typeof frame>, number[]][], samples: number[]): CpuProfile {
  return { nodes: nodes.map(([id, callFrame, children]) => ({ id, callFrame, children })), samples };
}

describe("summarizeProfile", () => {
  const p = profile([
    [1, frame("(root)"), [2, 3, 6, 9, 11, 12]],
    [2, frame("(idle)"), []],
    [3, frame("flush", `${SRC}/store/writer.ts`, 101), [4]],
    [4, frame("begin", `${SRC}/store/writer.ts`, 85), [5]],
    [5, frame("exec", "file:///x/node_modules/libsql/index.js", 254), []], // BEGIN IMMEDIATE while waiting
    [6, frame("commitGroup", `${SRC}/store/writer.ts`, 132), [7]],
    [7, frame("all", "file:///x/node_modules/libsql/index.js", 399), [8]],
    [8, frame("libsql_js::statement::Rows::js_next"), []],
    [9, frame("send", `${SRC}/agents/telegram/send.ts`, 83), [10]],
    [10, frame("mainFetch", "ext:deno_fetch/26_fetch.js", 1), []],
    [11, frame("(garbage collector)"), []],
    [12, frame("ingest", `${SRC}/agents/telegram/agent.ts`, 73), []],
  ], [2, 2, 2, 2, 5, 5, 8, 8, 8, 10, 11, 12, 12, 2, 2, 2, 2, 2, 2, 2]);

  it("puts each sample in one category by its stack", () => {
    const s = summarizeProfile(p);
    expect(s.samples).toBe(20);
    expect(s.pct).toEqual({
      idle: 55, // 11 of 20
      lock_wait: 10, // under begin, even the libSQL call inside it
      sql: 15,
      http_client: 5,
      gc: 5,
      inspector: 0,
      js: 10,
      runtime: 0,
    });
  });

  it("counts each busy sample once, for our innermost function", () => {
    expect(summarizeProfile(p).top).toEqual([
      { fn: "commitGroup store/writer.ts:133", pct: 15 },
      { fn: "begin store/writer.ts:86", pct: 10 },
      { fn: "ingest agents/telegram/agent.ts:74", pct: 10 },
      { fn: "send agents/telegram/send.ts:84", pct: 5 },
    ]);
    expect(summarizeProfile(p, 1).top).toHaveLength(1);
  });

  it("reports zeros for an empty profile", () => {
    const s = summarizeProfile(profile([[1, frame("(root)"), []]], []));
    expect(s.samples).toBe(0);
    expect(Object.values(s.pct).every((v) => v === 0)).toBe(true);
    expect(s.top).toEqual([]);
  });
});

describe("threadCpu / threadShare", () => {
  it("reads this process's threads and splits the main thread from the others", async () => {
    const before = await threadCpu(process.pid);
    expect(before.get(process.pid)?.name).toBeTruthy();
    // 0.3 s of this process's CPU (not of wall time: on a busy machine that is less), nearly all the main thread's.
    const start = process.cpuUsage();
    let x = 0;
    while (process.cpuUsage(start).user < 300_000) x += Math.sqrt(x + 1);
    const after = await threadCpu(process.pid);
    const share = threadShare(process.pid, before, after, 0.3);
    expect(x).toBeGreaterThan(0);
    expect(share.main_user + share.main_sys).toBeGreaterThan(50); // most of those 0.3 s
  });

  it("adds up the other threads by name, and counts a thread that started in between from zero", () => {
    const t = (name: string, user: number, sys: number) => ({ name, user, sys, children: 0, nice: 0 });
    const before = new Map([[10, t("deno", 5, 1)], [11, t("tokio-runtime-w", 1, 1)], [
      12,
      t("tokio-runtime-w", 0, 0),
    ]]);
    const after = new Map([
      [10, t("deno", 7, 1.5)],
      [11, t("tokio-runtime-w", 1.5, 1)],
      [12, t("tokio-runtime-w", 0.2, 0.3)],
      [13, t("V8 DefaultWorke", 0.4, 0)],
    ]);
    expect(threadShare(10, before, after, 10)).toEqual({
      main_user: 20,
      main_sys: 5,
      others: { "tokio-runtime-w": 10, "V8 DefaultWorke": 4 },
    });
  });

  it("is empty for a process that does not exist", async () => {
    expect((await threadCpu(2 ** 22 + 7)).size).toBe(0);
  });
});

describe("parseProcStat", () => {
  it("reads a process's own CPU, its ended children's (the load generator's wrk processes) and its nice", () => {
    // /proc/<pid>/stat of a process named "deno (x) y": the name may hold spaces and parentheses.
    const stat = "4242 (deno (x) y) S 1 4242 4242 0 -1 4194560 9000 0 0 0 250 50 700 130 20 5 7 0 12345";
    expect(parseProcStat(stat)).toEqual({ name: "deno (x) y", user: 2.5, sys: 0.5, children: 8.3, nice: 5 });
  });
});
