// Typing indicators while a turn is in flight, end to end with the real orchestrator and llama.cpp: Telegram's
// chat action is renewed (it expires after ~5 s) until the reply is sent; WhatsApp's indicator (mark-as-read with
// typing) is shown again while the turn runs; and a chat paused for a person stops "typing…" at the next renewal
// instead of after typing.maxMs (the orchestrator marks its message silent in the chat inbox).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { llamaAvailable, llamaMissingMessage } from "../support/llama-server.ts";
import { until } from "../channels/harness.ts";
import { type Harness, sleep, startHarness } from "./harness.ts";

const available = llamaAvailable();
if (!available && process.env["CI"] === "true") throw new Error(llamaMissingMessage());

const OPERATOR_CHAT = 990;

describe.skipIf(!available)("typing indicators", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      roles: {
        support: {
          kind: "support",
          systemPrompt: "You are Example Co's support assistant. Be brief.",
          operator: { agent: "tg", chatId: String(OPERATOR_CHAT) },
        },
      },
      tg: {
        role: "support",
        // Typing renewed every second, for at most 30 s; no streaming, so typing runs until the reply.
        experience: { coalesce: { quietMs: 200 }, stream: { enabled: false } },
      },
      wa: {
        experience: { coalesce: { quietMs: 200 }, notice: { enabled: false } },
        whatsapp: { typing: { refreshMs: 5_000, maxMs: 60_000 } },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const actions = (chat: number) =>
    h.tg.callsOf("sendChatAction").filter((c) => c.body["chat_id"] === chat && c.body["action"] === "typing");

  it("telegram: typing is renewed while the model works and stops with the reply", async () => {
    const chat = 901;
    h.relay.script({ kind: "ok", startDelayMs: 4_000 });
    expect(await h.telegram(9501, chat, "a question that takes a while")).toBe(200);
    await until(() => h.tg.sent.some((s) => s.chatId === chat), 60_000, "the reply");
    const during = actions(chat);
    expect(during.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < during.length; i++) expect(during[i]!.at - during[i - 1]!.at).toBeLessThan(1_500);
    const sentAt = h.tg.sent.find((s) => s.chatId === chat)!.at;
    await sleep(2_500);
    expect(actions(chat).filter((c) => c.at > sentAt + 100)).toHaveLength(0);
  }, 60_000);

  it("telegram: a chat paused for a person stops typing at the next renewal, not after maxMs", async () => {
    const chat = 902;
    expect(await h.telegram(9601, chat, "/human")).toBe(200);
    await until(() => h.tg.sent.some((s) => s.chatId === OPERATOR_CHAT), 30_000, "the handoff notice");
    await until(() => h.tg.sent.some((s) => s.chatId === chat), 30_000, "the user's handoff notice");
    await sleep(1_500);
    const before = actions(chat).length;
    const calls = h.relay.calls.length;
    const t0 = Date.now();
    expect(await h.telegram(9602, chat, "hello? is anyone there?")).toBe(200);
    await until(() => h.tg.sent.filter((s) => s.chatId === OPERATOR_CHAT).length >= 2, 30_000, "the forward");
    await sleep(4_000);
    const after = actions(chat).filter((c) => c.at >= t0);
    // One action at ingress, at most one renewal before the check sees the message silenced; then nothing.
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(after.length).toBeLessThanOrEqual(2);
    expect(after.every((c) => c.at - t0 < 2_500)).toBe(true);
    expect(actions(chat).length - before).toBe(after.length);
    expect(h.relay.calls.length).toBe(calls); // no model call for a paused chat
    const [row] = await h.rows("SELECT state FROM chat_inbox WHERE agent = 'tg' AND platform_id = '9602'");
    expect(row!["state"]).toBe("silent");
  }, 60_000);

  it(
    "whatsapp: the typing indicator is shown again while a long turn runs, and not after the answer",
    async () => {
      const user = "15550003001";
      h.relay.script({ kind: "ok", startDelayMs: 7_000 });
      expect(await h.whatsapp("wamid.T1", user, "a slow question")).toBe(200);
      await until(() => h.graph.sent.some((s) => s.to === user), 60_000, "the answer");
      const answeredAt = h.graph.sent.find((s) => s.to === user)!.at;
      const reads = h.graph.reads.filter((r) => r.messageId === "wamid.T1");
      expect(reads.length).toBeGreaterThanOrEqual(2);
      expect(reads.every((r) => r.typing)).toBe(true);
      expect(reads[1]!.at - reads[0]!.at).toBeGreaterThanOrEqual(4_500);
      await sleep(6_000);
      expect(h.graph.reads.filter((r) => r.messageId === "wamid.T1" && r.at > answeredAt)).toHaveLength(0);
    },
    60_000,
  );
});
