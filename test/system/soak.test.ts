// The chaos soak, shortened for the test suite (RELIABILITY.md C4, C8): 600 messages over 40 chats on two
// Telegram and two WhatsApp agents in about 60 s, while random agents — the orchestrator first — are killed with
// SIGKILL every 5–15 s and restarted after 0.5 s, a WhatsApp agent is killed mid-send once before Graph got the send
// and once after, others are recycled with SIGTERM, and Groq/Claude fail in bursts.
// The checker (bench/soak/checker.ts) then compares what every user received with what they sent and the store.
// `npm run soak` runs the full version (10,000 messages, 200 chats).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
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
    // A "lost" send (Graph never got it) is resent once the status wait has passed with no status naming it, if
    // statuses of later sends were stored 10 s to half the wait after it: with the default 180 s wait none would
    // fit in 60 s. With 60 s (the shortest allowed), a cut every 4–8 s until 20 s: lost (resent ~60 s after it,
    // early in the drain), then reached (its status settles it as sent). Cuts stop before a third one.
    statusWaitS: 60,
    cutSend: { everyS: [4, 8], untilS: 20, modes: ["lost", "reached"] },
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

  it("killed a WhatsApp agent mid-send before Graph got the send and after, each outcome left for the status webhooks", async () => {
    expect(result.midSendKills?.lost).toBeGreaterThanOrEqual(1);
    expect(result.midSendKills?.reached).toBeGreaterThanOrEqual(1);
    // The send Graph never got had no status for the whole wait, while the agent took others': sent again.
    const lost = result.chaos.find((e) => e.action === "cut-send" && e.mode === "lost")!;
    expect(await readFile(join(result.logDir, `${lost.target}.log`), "utf8")).toContain("it never left; sending it");
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
