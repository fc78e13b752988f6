// `npm run soak`'s options and verdict: a soak that checks nothing (a count that is not a number, nothing
// injected) must not print OK.
import { afterEach, describe, expect, it } from "vitest";
import type { CheckReport } from "../../bench/soak/checker.ts";
import { parseSoakArgs } from "../../bench/soak/args.ts";
import { failures, passed } from "../../bench/soak/soak.ts";
import { runBench } from "../support/bench.ts";
import { tempDir } from "../support/tmp.ts";

/** What `npm run soak` runs. */
const run = (args: string[]) => runBench("soak", args, 100_000);

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe("npm run soak's options", () => {
  it("refuses a --messages that is not a number, before starting anything, with exit code 2", async () => {
    const tmp = await tempDir("aideazz-soakcli-");
    cleanup = tmp.cleanup;
    // "10_000" is NaN to Number(): unchecked, the soak injected nothing and printed OK.
    const { code, out } = await run(["--messages", "10_000", "--no-chaos", "--dir", tmp.dir]);
    expect(out).not.toMatch(/^OK/m);
    expect(code).toBe(2);
    expect(out).toMatch(/--messages must be a whole number of at least 1, got "10_000"/);
  }, 120_000);

  it("names each bad numeric option; takes good ones and the defaults", () => {
    const bad = parseSoakArgs(["--messages", "abc", "--chats", "0", "--seconds=-5", "--drain-timeout", "0",
      "--crash-delay-ms", "1e3", "--seed", "1.5"]);
    expect("error" in bad && bad.error.split("\n").map((l) => l.split(" ")[0])).toEqual([
      "--messages", "--chats", "--seconds", "--seed", "--crash-delay-ms", "--drain-timeout",
    ]);
    expect(parseSoakArgs(["--messages", "600", "--chats", "40", "--seconds", "7.5", "--no-chaos"])).toMatchObject({
      messages: 600, chats: 40, seconds: 7.5, seed: 1, chaos: false, crashDelayMs: 1_000, drainTimeoutS: 300,
    });
    expect(parseSoakArgs(["--bogus"])).toHaveProperty("error");
  });

  it("a run in which no message was injected did not pass, and says why", () => {
    const nothing: CheckReport = {
      injected: 0, acknowledged: 0, notAcknowledged: 0, redeliveredAfterAck: 0, answered: 0, answeredAfterNotice: 0,
      deadLettered: 0, deadLetteredWithoutNotice: 0, deadLetteredWithoutReason: 0, pendingAtEnd: 0, lost: 0,
      lostAtIngress: 0, duplicateAnswers: 0, duplicateNotices: 0, fallbackThenWorking: 0, unexpected: 0,
      userVisibleDuplicates: 0, notices: 0,
      attributedViaUnknownLedger: 0, coalesced: 0, wrongAnswer: 0, orderViolations: 0, chats: 0, receivedMessages: 0,
      integrityCheck: "ok", foreignKeyViolations: 0, deadLetters: 0, deadLettersWithoutReason: 0, lostExamples: [],
      unexpectedExamples: [],
    };
    expect(passed({ report: nothing, drained: true, midSendKills: undefined })).toBe(false);
    expect(failures({ report: nothing, drained: true, midSendKills: undefined })).toEqual([
      "nothing checked (injected 0, acknowledged 0)",
    ]);
    // Every broken guarantee is named, not only the first.
    const bad = {
      ...nothing, injected: 5, acknowledged: 4, notAcknowledged: 1, wrongAnswer: 2, foreignKeyViolations: 3,
    };
    expect(failures({ report: bad, drained: false, midSendKills: { lost: 0, reached: 1 } })).toEqual([
      "wrong answers 2", "not acknowledged 1", "foreign-key violations 3", "drain timed out",
      "no WhatsApp agent killed mid-send (lost)",
    ]);
  });
});
