// The chaos soak, shortened for the test suite (RELIABILITY.md C4, C8): 600 messages over 40 chats on two
// Telegram and two WhatsApp agents in about 60 s, while random agents — the orchestrator first — are killed with
// SIGKILL every 5–15 s and restarted after 0.5 s, a WhatsApp agent is killed mid-send at least once, others are
// recycled with SIGTERM, and Groq/Claude fail in bursts.
// The checker (bench/soak/checker.ts) then compares what every user received with what they sent and the store.
// `npm run soak` runs the full version (10,000 messages, 200 chats).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatReport, runSoak, type SoakResult } from "../../bench/soak/soak.ts";
import { tempDir } from "../support/tmp.ts";

let result: SoakResult;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir("aideazz-soak-"));
  result = await runSoak({
    dir,
    messages: 600,
    chats: 40,
    seconds: 60,
    seed: 42,
    killEveryS: [5, 15],
    recycleEveryS: [8, 20],
    burstEveryS: [6, 15],
    burstLengthS: [3, 8],
    // The full soak's cuts start at 30–60 s and stop 90 s before the end (a "lost" send waits 3 min for its
    // status before it is resent): none would fit in 60 s. Here a cut every 10–20 s until 40 s, each one after
    // Graph got the send, so its status settles it within the run.
    cutSend: { everyS: [10, 20], untilS: 40, modes: ["reached"] },
    crashDelayMs: 500,
    drainTimeoutS: 150,
    // Given up before the hook's timeout, so that the run itself stops its agents (none left running).
    signal: AbortSignal.timeout(270_000),
  });
  process.stdout.write(`\n${formatReport(result)}\n`);
}, 300_000);

afterAll(() => cleanup?.());

describe("chaos soak (600 messages, 40 chats)", () => {
  it("really was chaotic: the orchestrator and a channel agent killed, an agent recycled, providers failing", () => {
    const killed = result.chaos.filter((e) => e.action === "kill").map((e) => e.target);
    expect(killed).toContain("orchestrator");
    expect(killed.some((k) => /^(tg|wa)/.test(k))).toBe(true);
    expect(result.chaos.some((e) => e.action === "recycle")).toBe(true);
    expect(result.chaos.some((e) => e.action === "burst-start")).toBe(true);
  });

  it("killed a WhatsApp agent mid-send, its reply's outcome left for the status webhooks to settle", () => {
    expect(result.midSendKills).toBeGreaterThanOrEqual(1);
  });

  it("every acknowledged message got exactly one reply, in order; nothing lost or still queued", () => {
    const c = result.report;
    expect(result.drained).toBe(true);
    expect(c.acknowledged).toBe(600);
    expect({ lost: c.lost, pending: c.pendingAtEnd, duplicates: c.userVisibleDuplicates, order: c.orderViolations, wrong: c.wrongAnswer })
      .toEqual({ lost: 0, pending: 0, duplicates: 0, order: 0, wrong: 0 });
    expect(c.answered + c.deadLettered).toBe(600);
  });

  it("the store is intact: integrity_check ok, no foreign key violations, no dead letter without a reason", () => {
    const c = result.report;
    expect(c.integrityCheck).toBe("ok");
    expect(c.foreignKeyViolations).toBe(0);
    expect(c.deadLettersWithoutReason).toBe(0);
  });
});
