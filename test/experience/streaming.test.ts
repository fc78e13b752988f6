// Progressive replies on Telegram with the REAL llama.cpp server streaming (`stream: true`) through a relay that
// slows its events down: the first part is posted while the model is still writing, the message is edited as
// more arrives (edits at least 1 s apart), and it ends with exactly the model's full output — one message.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { llamaAvailable, llamaMissingMessage } from "../support/llama-server.ts";
import { until } from "../channels/harness.ts";
import { finalReplies, type Harness, sleep, startHarness } from "./harness.ts";

const available = llamaAvailable();
if (!available && process.env["CI"] === "true") throw new Error(llamaMissingMessage());

describe.skipIf(!available)("progressive replies with the real llama.cpp server", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      delayMs: 100,
      tg: { experience: { coalesce: { quietMs: 200 }, stream: { firstMaxChars: 20 } } },
      conversation: { maxReplyTokens: 60 },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it(
    "a streamed reply is ONE message: posted early, edited ≥ 1 s apart, ending with the model's full output",
    async () => {
      const chat = 701;
      expect(await h.telegram(9001, chat, "tell me a long story")).toBe(200);
      await until(
        async () => {
          const [final] = (await finalReplies(h, "tg")).filter((r) => r["chatId"] === String(chat));
          const shown = h.tg.sent.find((s) => s.chatId === chat);
          return final !== undefined && shown?.text === String(final["text"]).trim();
        },
        60_000,
        "the final text on the message",
      );
      await sleep(1_500);
      const [call] = h.relay.calls.filter((c) => c.messages.at(-1)?.content === "tell me a long story");
      expect(call!.stream).toBe(true);
      expect(call!.finished).toBe(true);
      const full = call!.text;
      expect(full.trim().length).toBeGreaterThan(20);
      const messages = h.tg.sent.filter((s) => s.chatId === chat);
      expect(messages).toHaveLength(1);
      const m = messages[0]!;
      expect(m.text).toBe(full.trim());
      // Progressive: the first text was on screen before the model finished, and it changed at least once.
      expect(m.history.length).toBeGreaterThanOrEqual(2);
      expect(m.historyAt[0]!).toBeLessThan(call!.endedAt!);
      for (const text of m.history) expect(full.trim().startsWith(text)).toBe(true);
      for (let i = 1; i < m.historyAt.length; i++) {
        expect(m.historyAt[i]! - m.historyAt[i - 1]!).toBeGreaterThanOrEqual(950);
      }
      // The saved answer is the full output too (trimmed, as every answer is: the model's output may begin with a space).
      const turns = await h.rows(
        "SELECT text FROM conversation_turns WHERE chat = ? AND role = 'assistant'",
        `tg:${chat}`,
      );
      expect(turns.map((t) => t["text"])).toEqual([full.trim()]);
      console.log(
        `streamed reply: ${full.length} chars over ${call!.deltas.length} chunks in ${
          call!.endedAt! - call!.at
        } ms; ` +
          `first text shown after ${m.historyAt[0]! - call!.at} ms, ${m.history.length - 1} edits`,
      );
    },
    90_000,
  );

  it("a channel that cannot edit (WhatsApp) gets no partials: one message with the full output", async () => {
    const from = "15550007001";
    expect(await h.whatsapp("wamid.STREAM1", from, "tell me another story")).toBe(200);
    await until(() => h.graph.sent.some((s) => s.to === from && s.type === "text"), 60_000, "the answer");
    await sleep(1_500);
    const [call] = h.relay.calls.filter((c) => c.messages.at(-1)?.content === "tell me another story");
    expect(call!.stream).toBe(false);
    const sent = h.graph.sent.filter((s) => s.to === from);
    // llama-cpp is a slow kind: the notice first (WhatsApp's default), then the answer.
    expect(sent.map((s) => s.text)).toEqual(["One moment, I'm working on your answer…", call!.text.trim()]);
  }, 90_000);
});
