// Two chats' bursts interleaved, each with a /reset in the middle: each chat's messages before the command are one
// turn, the command its own, the messages after it the next turn, answered once each, in order; the turn after
// /reset has none of the history it forgot, and nothing of one chat is in the other's model call.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../channels/harness.ts";
import { sleep } from "./harness.ts";
import { type Spine, startSpine } from "./spine.ts";

const RESET = "Done: I've forgotten our conversation. How can I help?";

describe("two chats' bursts interleaved, a /reset inside each", () => {
  let h: Spine;
  beforeAll(async () => {
    h = await startSpine({ tg: { experience: { stream: { enabled: false } } } });
    h.groq.setDefault({ kind: "ok", text: "Noted." });
  }, 30_000);
  afterAll(async () => {
    await h?.close();
  });

  it("each chat: one answer for the burst before the command, the command's, one for the burst after", async () => {
    const [a, b] = [6101, 6102];
    let id = 700;
    const send = async (chat: number, text: string) => {
      expect(await h.telegram(++id, chat, text)).toBe(200);
      await sleep(60);
    };
    await send(a, "a1 hello");
    await send(b, "b1 hello");
    await send(a, "a2 my order is late");
    await send(b, "b2 I want a refund");
    await send(a, "/reset");
    await send(b, "/reset");
    await send(a, "a3 what are your hours?");
    await send(b, "b3 do you ship abroad?");
    await send(a, "a4 and on sundays?");
    await until(() => h.tg.sent.filter((s) => s.chatId === a || s.chatId === b).length >= 6, 20_000, "six replies");
    await sleep(3_000);
    const shown = (chat: number) => h.tg.sent.filter((s) => s.chatId === chat).map((s) => s.text);
    expect(shown(a)).toEqual(["Noted.", RESET, "Noted."]);
    expect(shown(b)).toEqual(["Noted.", RESET, "Noted."]);
    const asked = h.groq.requests.filter((r) => r.path.endsWith("/chat/completions")).map((r) =>
      (r.json as { messages: { role: string; content: string }[] }).messages
    );
    const lastUser = asked.map((m) => m.at(-1)!.content).sort();
    expect(lastUser).toEqual([
      "a1 hello\na2 my order is late",
      "a3 what are your hours?\na4 and on sundays?",
      "b1 hello\nb2 I want a refund",
      "b3 do you ship abroad?",
    ]);
    // After /reset: no history (system prompt and the question only).
    for (const m of asked) {
      if (m.at(-1)!.content.startsWith("a3") || m.at(-1)!.content.startsWith("b3")) expect(m).toHaveLength(2);
    }
  }, 40_000);
});
