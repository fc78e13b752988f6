// A streamed reply of two messages whose first message can no longer be edited (deleted mid-stream: "message to
// edit not found") gets its first part's final text as a new message, below the second one. The second part must
// then go out anew too (its old message deleted), or the answer reads part 2, then part 1.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { errors, type FakeTelegram, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until } from "./harness.ts";
import { SECRETS } from "../experience/harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-part-order-")));
afterAll(() => cleanup());

const reply = (replyKey: string, text: string, extra: Partial<OutboundReply> = {}) =>
  ({ agent: "tg", chatId: "51", text, inReplyTo: [1], replyKey, kind: "answer", ...extra }) as OutboundReply;
let seq = 0;
const publish = (ch: Channel, r: OutboundReply) =>
  ch.bus.publish([{
    topic: outboundTopic(r.agent),
    key: chatKey(r.agent, r.chatId),
    payload: r as never,
    idempotencyKey: `test:${r.replyKey}:${++seq}`,
  }]);
const para = (n: number, w: string) => `Paragraph ${n}. ${`${w} `.repeat(600)}`.trim();

describe("telegram: a streamed reply whose first message is gone", () => {
  let fake: FakeTelegram;
  let ch: Channel;
  let db = 0;
  beforeEach(async () => {
    fake = await startFakeTelegram({ token: SECRETS.TG_TOKEN });
    ch = await startChannel({
      dir,
      dbFile: `order-${db++}.db`,
      secrets: SECRETS,
      agent: {
        name: "tg",
        kind: "telegram",
        telegram: {
          tokenEnv: "TG_TOKEN",
          secretTokenEnv: "TG_SECRET",
          apiRoot: fake.apiRoot,
          pacing: { perChatMs: 1_000, perSecond: 30 },
        },
      },
    });
  });
  afterEach(async () => {
    await ch.stop();
    await fake.close();
  });

  /** Two partial messages, then the first one deleted in the chat: Telegram no longer finds it to edit. */
  async function postTwoThenLoseFirst(replyKey: string) {
    await publish(ch, reply(replyKey, `${para(1, "draft")}\n\n${para(2, "draft")}`, { partial: 1 }));
    await until(() => fake.sent.length === 2, 15_000, "two partial messages");
    const first = fake.sent[0]!.messageId;
    fake.script("editMessageText", (call) =>
      Number(call.body["message_id"]) === first
        ? { status: 400, body: { ok: false, error_code: 400, description: "Bad Request: message to edit not found" } }
        : undefined);
    fake.sent[0]!.deleted = true;
  }
  /** Top to bottom as Telegram lists them (by message id): what the user reads. */
  const shown = () =>
    fake.sent.filter((m) => !m.deleted).sort((a, b) => a.messageId - b.messageId).map((m) => m.text.slice(0, 18));
  const finalTexts = [para(1, "final").slice(0, 18), para(2, "final").slice(0, 18)];

  it("the final reply reads part 1 above part 2: part 2 goes anew below part 1, its old message deleted", async () => {
    await postTwoThenLoseFirst("gone2");
    await publish(ch, reply("gone2", `${para(1, "final")}\n\n${para(2, "final")}`, { streamed: true }));
    await until(() => fake.sent.length === 4 && fake.sent[1]!.deleted === true, 20_000, "the final text");
    expect(shown()).toEqual(finalTexts);
    expect(fake.callsOf("sendMessage")).toHaveLength(4); // two partials, each part's final once
  }, 60_000);

  it("on the bus's retry (part 2's new message met a 429) part 2 still goes below part 1, each sent once", async () => {
    await postTwoThenLoseFirst("gone3");
    // sendMessage calls: the two partials, part 1 anew, then part 2 anew: refused once.
    fake.script("sendMessage", (_call, index) => (index === 3 ? errors.tooManyRequests(1) : undefined));
    await publish(ch, reply("gone3", `${para(1, "final")}\n\n${para(2, "final")}`, { streamed: true }));
    await until(() => fake.sent.length === 4 && fake.sent[1]!.deleted === true, 30_000, "the final text, on the retry");
    expect(shown()).toEqual(finalTexts);
    expect(fake.callsOf("sendMessage")).toHaveLength(5); // the 429 and its retry
    const ledger = await ch.rows(
      "SELECT reply_key, platform_id FROM bus_send_ledger WHERE reply_key LIKE 'gone3#%' ORDER BY 1",
    );
    expect(ledger).toEqual([
      { reply_key: "gone3#0", platform_id: String(fake.sent[2]!.messageId) },
      { reply_key: "gone3#0:repost", platform_id: String(fake.sent[2]!.messageId) },
      { reply_key: "gone3#1", platform_id: String(fake.sent[3]!.messageId) },
      { reply_key: "gone3#1:repost", platform_id: String(fake.sent[3]!.messageId) },
    ]);
  }, 60_000);
});
