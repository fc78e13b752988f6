// A Telegram turn streams (stream.enabled, the default). Groq's stream stalls after a few words and is cut at its
// timeout. Nothing was shown to the user: the first partial needs a whole sentence or firstMaxChars (160) and the
// stream gave neither. The walk goes on to the chain's spare provider, as route() (a channel that does not stream)
// would, instead of ending with StreamInterruptedError (the fallback apology, then the bus's retry).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../channels/harness.ts";
import { sleep } from "./harness.ts";
import { type Spine, startSpine } from "./spine.ts";

describe("a stream that breaks before anything was shown", () => {
  let h: Spine;
  beforeAll(async () => {
    h = await startSpine({
      router: (groq, spare) => ({
        providers: {
          groq: { kind: "groq", baseUrl: groq, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 600 },
          spare: { kind: "groq", baseUrl: spare, model: "llama-3.3-70b-versatile", apiKeyEnv: "SPARE_KEY", timeoutMs: 5_000 },
        },
        chain: ["groq", "spare"],
        retry: { maxAttempts: 1 },
      }),
      conversation: { retryBaseMs: 3_000 },
    });
  }, 30_000);
  afterAll(async () => {
    await h?.close();
  });

  it("falls back to the next provider: one message, the spare's answer, no apology", async () => {
    const chat = 5201;
    h.groq.script({ kind: "stall", text: "Well, the plans differ in " }); // then nothing: cut at 600 ms
    h.spare.setDefault({ kind: "ok", text: "From the spare provider." });
    expect(await h.telegram(81, chat, "what is the difference between the plans?")).toBe(200);
    await until(() => h.tg.sent.some((s) => s.chatId === chat), 20_000, "a message");
    await sleep(1_500);
    const shown = h.tg.sent.filter((s) => s.chatId === chat).map((s) => ({ text: s.text, history: s.history }));
    const partialsPosted = h.tg.sent.filter((s) => s.chatId === chat && s.history[0]!.startsWith("Well"));
    expect(partialsPosted).toHaveLength(0); // nothing of groq's text was ever on screen
    expect(shown).toEqual([{ text: "From the spare provider.", history: ["From the spare provider."] }]);
  }, 60_000);
});
