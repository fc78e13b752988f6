// `npm run bench -- system`'s options (bench/system/args.ts): bad input gets an error naming its flag and exit 2
// before anything starts. Unchecked, `--steps 100,25O` ran a whole benchmark at NaN requests/s and wrote
// system.json, and `--seconds 0` crashed wrk.lua mid-run.
import { access } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseSystemArgs } from "../../bench/system/args.ts";
import { runBench } from "../support/bench.ts";
import { tempDir } from "../support/tmp.ts";

/** What `npm run bench -- system` runs; stopped after 25 s: it must not get that far. */
const bench = (args: string[]) => runBench("system", args);

const exists = (p: string) => access(p).then(() => true, () => false);

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe("parseSystemArgs", () => {
  it.each([
    [["--steps", "100,25O"], /--steps .*"100,25O"/],
    [["--steps", "100,,200"], /--steps/],
    [["--twelve-steps", "0"], /--twelve-steps/],
    [["--seconds", "0"], /--seconds .*"0"/],
    [["--seconds", "ten"], /--seconds/],
    [["--profile-rate", "-5"], /--profile-rate/],
    [["--skip", "twelve,clasic"], /--skip .*clasic/],
    [["--bogus"], /--bogus/],
  ])("refuses %j, naming the flag", (argv, message) => {
    const r = parseSystemArgs(argv);
    expect("error" in r && r.error).toMatch(message);
  });

  it("reports every bad flag at once", () => {
    const r = parseSystemArgs(["--seconds", "0", "--v8-steps", "x"]);
    expect("error" in r && r.error.split("\n")).toHaveLength(2);
  });

  it("takes rates and seconds as numbers, and gives the defaults for what is left out", () => {
    const r = parseSystemArgs(["--steps", "10,2.5", "--seconds", "0.5", "--skip", "twelve,v8", "--no-llama"]);
    expect(r).toMatchObject({ hitSteps: [10, 2.5], seconds: 0.5, modelSteps: [5, 10, 20, 40], profileRate: 250, llama: false });
    expect("skip" in r && [...r.skip]).toEqual(["twelve", "v8"]);
    expect(parseSystemArgs(["--quick"])).toMatchObject({ quick: true, seconds: 5, hitSteps: [10, 200, 600] });
  });
});

describe("npm run bench -- system: bad options", () => {
  it("a --steps entry that is not a number: exit 2 naming --steps, before starting anything or writing system.json", async () => {
    const tmp = await tempDir("aideazz-benchopts-");
    cleanup = tmp.cleanup;
    const out = join(tmp.dir, "system.json");
    const r = await bench(["--steps", "100,25O", "--seconds", "2", "--dir", join(tmp.dir, "work"), "--out", out]);
    expect(r.code, r.out.slice(0, 1_500)).toBe(2);
    expect(r.out).toMatch(/--steps/);
    expect(await exists(out)).toBe(false);
    expect(await exists(join(tmp.dir, "work"))).toBe(false);
  }, 60_000);

  it("--help prints the options and exits 0", async () => {
    const r = await bench(["--help"]);
    expect(r.out).not.toMatch(/Uncaught|TypeError/);
    expect(r.out).toMatch(/--steps/);
    expect(r.code).toBe(0);
  }, 60_000);
});
