// `npm run bench -- bus|metrics|router|store`'s options (bench/args.ts): bad input gets an error naming its flag
// and exit 2 before anything starts, and --help prints the options. Unchecked, an unknown flag or --help printed
// "Uncaught (in promise) TypeError: Unknown option" with a stack trace, and `--seconds 1O` ran at NaN.
import { access } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defineBench, parseBenchArgs, toUsage } from "../../bench/args.ts";
import { runBench } from "../support/bench.ts";
import { tempDir } from "../support/tmp.ts";

/** What `npm run bench -- <suite>` runs; stopped after 25 s: it must not get that far. */
const bench = (suite: string, args: string[]) => runBench(suite, args);

const exists = (p: string) => access(p).then(() => true, () => false);

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

// One bad number per suite, each a typo that Number() turned into NaN (or a value the run cannot use).
const BAD: [suite: string, argv: string[], flag: string][] = [
  ["bus", ["--seconds", "1O"], "--seconds"],
  ["bus", ["--only", "idle,thruput"], "--only"],
  ["metrics", ["--interval", "0"], "--interval"],
  ["router", ["--calls", "20_000"], "--calls"],
  ["store", ["--runs", "0"], "--runs"],
];

// One option of each kind, as a suite declares them.
const CLI = defineBench({
  suite: "demo",
  summary: "a suite for the tests",
  options: {
    quick: { type: "boolean", help: "shorter" },
    seconds: { type: "positive", help: "seconds per run" },
    runs: { type: "count", help: "runs" },
    events: { type: "whole", help: "events per message" },
    only: { type: "list", of: ["idle", "raw"], help: "phases" },
    out: { type: "string", arg: "PATH", help: "result file" },
  },
});

describe("parseBenchArgs", () => {
  it.each([
    [["--seconds", "1O"], /^--seconds must be a number above 0, got "1O"$/],
    [["--seconds=0"], /^--seconds .*"0"/],
    [["--seconds", "1e3"], /^--seconds/],
    [["--runs", "0"], /^--runs must be a whole number of at least 1, got "0"$/],
    [["--runs", "2.5"], /^--runs/],
    [["--events=-1"], /^--events must be a whole number, got "-1"$/],
    [["--only", "idle,rwa"], /^--only takes idle,raw; unknown: rwa$/],
    [["--only", ""], /^--only .*nothing/],
    [["--runs"], /--runs/],
    [["--bogus"], /--bogus/],
    [["stray"], /stray/],
  ])("refuses %j, naming the flag", (argv, message) => {
    const r = parseBenchArgs(CLI, argv);
    expect("error" in r && r.error).toMatch(message);
  });

  it("reports every bad flag at once", () => {
    const r = parseBenchArgs(CLI, ["--seconds", "0", "--runs", "x", "--only", "y"]);
    expect("error" in r && r.error.split("\n").map((l) => l.split(" ")[0])).toEqual(["--seconds", "--runs", "--only"]);
  });

  it("gives numbers, lists and flags their types, and leaves out what was not given", () => {
    const r = parseBenchArgs(CLI, ["--seconds", "0.5", "--runs", "3", "--events", "0", "--only", "raw,idle", "--quick"]);
    expect(r).toEqual({ values: { seconds: 0.5, runs: 3, events: 0, only: ["raw", "idle"], quick: true } });
    expect(parseBenchArgs(CLI, ["--out", "x.json"])).toEqual({ values: { out: "x.json" } });
  });

  it("--help wins over bad options, and the usage lists every option", () => {
    expect(parseBenchArgs(CLI, ["--runs", "0", "--help"])).toEqual({ help: true });
    const usage = toUsage(CLI);
    expect(usage).toMatch(/^usage: npm run bench -- demo \[options\]/);
    for (const flag of ["--quick ", "--seconds N", "--runs N", "--events N", "--only P,P,…", "--out PATH", "--help"]) {
      expect(usage).toContain(flag);
    }
  });
});

describe("npm run bench -- bus|metrics|router|store: bad options", () => {
  it.each(BAD)("%s %j: exit 2 naming the flag, before writing any result", async (suite, argv, flag) => {
    const tmp = await tempDir("aideazz-benchargs-");
    cleanup = tmp.cleanup;
    const out = join(tmp.dir, `${suite}.json`);
    // store has no --dir: it works in the OS temp directory.
    const dir = suite === "store" ? [] : ["--dir", join(tmp.dir, "work")];
    const r = await bench(suite, [...argv, ...dir, "--out", out]);
    expect(r.code, r.out.slice(0, 1_500)).toBe(2);
    expect(r.out).toContain(flag);
    expect(r.out).not.toMatch(/Uncaught|TypeError/);
    expect(await exists(out)).toBe(false);
    expect(await exists(join(tmp.dir, "work"))).toBe(false);
  }, 60_000);

  it.each(["bus", "metrics", "router", "store"])("%s --bogus: exit 2 naming --bogus, no stack trace", async (suite) => {
    const r = await bench(suite, ["--bogus"]);
    expect(r.code, r.out.slice(0, 1_500)).toBe(2);
    expect(r.out).toMatch(/--bogus/);
    expect(r.out).not.toMatch(/Uncaught|TypeError|\n\s+at /);
  }, 60_000);

  it.each(["bus", "metrics", "router", "store"])("%s --help prints the options and exits 0", async (suite) => {
    const r = await bench(suite, ["--help"]);
    expect(r.out).not.toMatch(/Uncaught|TypeError/);
    expect(r.out).toMatch(new RegExp(`usage: npm run bench -- ${suite}`));
    expect(r.out).toMatch(/--out PATH/);
    expect(r.code).toBe(0);
  }, 60_000);
});
