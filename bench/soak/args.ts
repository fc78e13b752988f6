/**
 * `npm run soak`'s options, validated before anything starts: a count that is not a number (`10_000`, `abc`)
 * would otherwise become NaN, inject nothing, and the soak would check nothing and print OK.
 *
 * @module
 */
import { parseArgs } from "node:util";

export interface SoakArgs {
  messages: number;
  chats: number;
  seconds: number;
  seed: number;
  chaos: boolean;
  llama: boolean;
  crashDelayMs: number;
  drainTimeoutS: number;
  dir: string | undefined;
  out: string | undefined;
}

const WHOLE = /^[0-9]+$/;
const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;

/**
 * The options in `argv` (without the program), or the first error naming its flag.
 *
 * @example
 * ```ts
 * parseSoakArgs(["--messages", "10_000"]);
 * // { error: '--messages must be a whole number of at least 1, got "10_000"' }
 * ```
 */
export function parseSoakArgs(argv: string[]): SoakArgs | { error: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        messages: { type: "string" },
        chats: { type: "string" },
        seconds: { type: "string" },
        seed: { type: "string" },
        "no-chaos": { type: "boolean" },
        llama: { type: "boolean" },
        "crash-delay-ms": { type: "string" },
        "drain-timeout": { type: "string" },
        dir: { type: "string" },
        out: { type: "string" },
      },
    }));
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  const errors: string[] = [];
  /** `--flag`'s number (or `fallback` when absent); an error naming the flag when `ok` refuses its text. */
  const read = (flag: keyof typeof values, fallback: number, ok: (text: string) => boolean, what: string) => {
    const text = values[flag];
    if (text === undefined) return fallback;
    if (typeof text === "string" && ok(text)) return Number(text);
    errors.push(`--${flag} must be ${what}, got ${JSON.stringify(text)}`);
    return NaN;
  };
  const count = (t: string) => WHOLE.test(t) && Number(t) >= 1;
  const positive = (t: string) => DECIMAL.test(t) && Number(t) > 0;
  const args: SoakArgs = {
    messages: read("messages", 10_000, count, "a whole number of at least 1"),
    chats: read("chats", 200, count, "a whole number of at least 1"),
    seconds: read("seconds", 300, positive, "a number of seconds above 0"),
    seed: read("seed", 1, (t) => WHOLE.test(t), "a whole number"),
    chaos: values["no-chaos"] !== true,
    llama: values.llama === true,
    crashDelayMs: read("crash-delay-ms", 1_000, positive, "a number of milliseconds above 0"),
    drainTimeoutS: read("drain-timeout", 300, positive, "a number of seconds above 0"),
    dir: values.dir,
    out: values.out,
  };
  return errors.length > 0 ? { error: errors.join("\n") } : args;
}
