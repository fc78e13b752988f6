// A streamed reply in a Telegram group, where the orchestrator publishes a partial every second (editIntervalMs)
// but the channel paces a group at perGroupMs (3 s). A partial that comes within editIntervalMs of the last edit is
// dropped before it waits for the pacer, so partials never pile up on the chat's outbound queue and the final lands
// within one group slot.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type FakeTelegram, startFakeTelegram } from "../fakes/telegram.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel, until } from "../channels/harness.ts";
import { SECRETS, sleep } from "../experience/harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-rev-exp-grp-")));
afterAll(() => cleanup());

const reply = (chatId: string, replyKey: string, text: string, extra: Partial<OutboundReply> = {}) =>
  ({ agent: "tg", chatId, text, inReplyTo: [1], replyKey, kind: "answer", ...extra }) as OutboundReply;

let seq = 0;
const publish = (ch: Channel, r: OutboundReply) =>
  ch.bus.publish([{
    topic: outboundTopic(r.agent),
    key: chatKey(r.agent, r.chatId),
    payload: r as never,
    idempotencyKey: `test:${r.replyKey}:${++seq}`,
  }]);

describe("telegram group: a streamed reply's partials and its final", () => {
  let fake: FakeTelegram;
  let ch: Channel;
  beforeEach(async () => {
    fake = await startFakeTelegram({ token: SECRETS.TG_TOKEN });
    // The defaults: perChatMs 1000, perGroupMs 3000, stream.editIntervalMs 1000.
    ch = await startChannel({
      dir,
      dbFile: `grp-${seq}.db`,
      secrets: SECRETS,
      agent: {
        name: "tg",
        kind: "telegram",
        telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: fake.apiRoot },
      },
    });
  });
  afterEach(async () => {
    await ch.stop();
    await fake.close();
  });

  it("the final text lands within one group slot of its publish, not after every queued partial", async () => {
    const group = "-100777";
    const words = Array.from({ length: 40 }, (_, i) => `word${i}`);
    // Ten partials one second apart, as the orchestrator publishes them while a model streams for ten seconds.
    for (let i = 1; i <= 10; i++) {
      await publish(ch, reply(group, "g1:answer", `Sure. ${words.slice(0, i * 4).join(" ")}`, { partial: i }));
      await sleep(1_000);
    }
    const finalText = `Sure. ${words.join(" ")} — done.`;
    const publishedAt = Date.now();
    await publish(ch, reply(group, "g1:answer", finalText, { streamed: true }));
    await until(() => fake.sent.some((m) => m.text === finalText), 60_000, "the final text");
    const shownAt = fake.sent.find((m) => m.text === finalText)!.historyAt.at(-1)!;
    const late = shownAt - publishedAt;
    // One group slot (3 s) plus a margin; the queued partials are stale once the final is there.
    expect({ lateMs: late, ok: late <= 5_000 }).toMatchObject({ ok: true });
  }, 90_000);
});
