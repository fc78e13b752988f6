// A burst's messages count against perUserPerMinute once, on the delivery's first lease. The orchestrator is
// restarted (systemd stop/start, a deploy) while the burst's model call runs: the stop gives the delivery back
// uncounted (bus RELEASE: attempts - 1), so the new process sees attempt 1 again; it must not admit the burst a
// second time (with perUserPerMinute 4, a burst of three counted twice left two of them with "You're sending
// messages faster than I can answer").
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../channels/harness.ts";
import { sleep } from "./harness.ts";
import { type Spine, startSpine } from "./spine.ts";

describe("a burst whose turn is cut by an orchestrator restart", () => {
  let h: Spine;
  beforeAll(async () => {
    h = await startSpine({
      router: (groq) => ({
        providers: {
          groq: { kind: "groq", baseUrl: groq, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 40_000 },
        },
        chain: ["groq"],
        retry: { maxAttempts: 1 },
        deadlineMs: 60_000,
      }),
      tg: { experience: { stream: { enabled: false } } },
      conversation: { perUserPerMinute: 4 },
    });
  }, 30_000);
  afterAll(async () => {
    await h?.close();
  });

  it("is counted once: after the restart one answer covers the three messages, no rate-limit notice", async () => {
    const chat = 5301;
    // The first model call outlives the orchestrator's stop timeout (15 s); the restarted one answers at once.
    h.groq.script({ kind: "ok", text: "Too late.", delayMs: 30_000 });
    h.groq.setDefault({ kind: "ok", text: "Here is the answer to all three." });
    for (const [i, text] of ["hi", "I wanted to ask", "how much is the pro plan?"].entries()) {
      expect(await h.telegram(91 + i, chat, text)).toBe(200);
      await sleep(150);
    }
    await until(() => h.groq.requests.length === 1, 15_000, "the burst's model call");
    await h.restartOrchestrator(); // within the minute: the user sent 3 messages, under the limit of 4
    await until(() => h.tg.sent.some((s) => s.chatId === chat), 20_000, "a reply");
    await sleep(3_000);
    const texts = h.tg.sent.filter((s) => s.chatId === chat).map((s) => s.text);
    expect(texts).toEqual(["Here is the answer to all three."]);
  }, 90_000);
});
