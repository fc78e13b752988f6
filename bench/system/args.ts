/**
 * `npm run bench -- system`'s options, validated before anything starts: unchecked, a typo (`--steps 100,25O`)
 * started six agents and ran a whole benchmark at NaN requests/s, and `--seconds 0` crashed wrk.lua mid-run.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** Phases `--skip` can leave out. */
export const PHASES = ["twelve", "classic", "bound", "model", "floor", "defaults", "profile", "v8"] as const;

export const SYSTEM_USAGE = `usage: npm run bench -- system [options]
  --quick                 fewer, shorter steps (5 s each)
  --seconds N             seconds per load step (default 10; 5 with --quick)
  --steps R,R,…           hit workload's offered loads in requests/s (6 agents)
  --model-steps R,…       model workload's offered loads
  --twelve-steps R,…      hit workload with 12 agents
  --classic-steps R,…     the classic design's offered loads
  --defaults-steps R,…    6 agents with the conversation-experience defaults
  --v8-steps R,…          6 agents with V8's default flags
  --profile-rate R        offered load of the profiled step (default 250)
  --skip P,P,…            phases to leave out: ${PHASES.join(",")}
  --no-llama              no llama.cpp sidecar
  --out PATH              result file (default bench/results/system.json)
  --dir DIR               working directory (default .cache/bench-system)
  --help                  this text`;

export interface SystemArgs {
  quick: boolean;
  seconds: number;
  hitSteps: number[];
  modelSteps: number[];
  twelveSteps: number[];
  classicSteps: number[];
  defaultsSteps: number[];
  v8Steps: number[];
  profileRate: number;
  skip: Set<string>;
  llama: boolean;
  out: string;
  dir: string;
}

const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;
const positive = (t: string) => DECIMAL.test(t) && Number(t) > 0;

/**
 * The options in `argv` (without the program); `{ help: true }` for `--help`; or every error, each naming its flag.
 *
 * @example
 * ```ts
 * parseSystemArgs(["--steps", "100,25O"]);
 * // { error: '--steps must be a list of numbers above 0 (requests/s), got "100,25O"' }
 * ```
 */
export function parseSystemArgs(argv: string[]): SystemArgs | { help: true } | { error: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        help: { type: "boolean" },
        quick: { type: "boolean" },
        seconds: { type: "string" },
        steps: { type: "string" },
        "model-steps": { type: "string" },
        "twelve-steps": { type: "string" },
        "classic-steps": { type: "string" },
        "defaults-steps": { type: "string" },
        "v8-steps": { type: "string" },
        "profile-rate": { type: "string" },
        "no-llama": { type: "boolean" },
        skip: { type: "string" },
        out: { type: "string" },
        dir: { type: "string" },
      },
    }));
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  if (values.help) return { help: true };
  const quick = values.quick === true;
  const errors: string[] = [];
  const number = (flag: "seconds" | "profile-rate", fallback: number, what: string) => {
    const text = values[flag];
    if (text === undefined) return fallback;
    if (positive(text)) return Number(text);
    errors.push(`--${flag} must be ${what}, got ${JSON.stringify(text)}`);
    return NaN;
  };
  const list = (flag: "steps" | "model-steps" | "twelve-steps" | "classic-steps" | "defaults-steps" | "v8-steps", fallback: number[]) => {
    const text = values[flag];
    if (text === undefined) return fallback;
    const entries = text.split(",");
    if (entries.every(positive)) return entries.map(Number);
    errors.push(`--${flag} must be a list of numbers above 0 (requests/s), got ${JSON.stringify(text)}`);
    return [];
  };
  const skip = new Set((values.skip ?? "").split(",").filter(Boolean));
  const unknown = [...skip].filter((p) => !(PHASES as readonly string[]).includes(p));
  // A misspelt phase would silently run (a long one, such as classic or twelve).
  if (unknown.length > 0) errors.push(`--skip takes ${PHASES.join(",")}; unknown: ${unknown.join(",")}`);
  const args: SystemArgs = {
    quick,
    seconds: number("seconds", quick ? 5 : 10, "a number of seconds above 0"),
    hitSteps: list("steps", quick ? [10, 200, 600] : [10, 100, 250, 375, 500, 750, 1000, 1250]),
    modelSteps: list("model-steps", quick ? [10] : [5, 10, 20, 40]),
    twelveSteps: list("twelve-steps", quick ? [10, 200] : [10, 100, 250, 500, 750, 1000]),
    classicSteps: list("classic-steps", quick ? [5, 20] : [5, 10, 20]),
    defaultsSteps: list("defaults-steps", quick ? [10] : [10, 100]),
    v8Steps: list("v8-steps", quick ? [10] : [100, 1000]),
    profileRate: number("profile-rate", 250, "a number of requests/s above 0"),
    skip,
    llama: values["no-llama"] !== true,
    out: values.out ?? "bench/results/system.json",
    dir: values.dir ?? ".cache/bench-system",
  };
  return errors.length > 0 ? { error: errors.join("\n") } : args;
}
