// The soak's checker on a store written by hand: a received message is tied to its inbound message through the send
// ledger; one that no ledger row explains is an "unexpected" user-visible duplicate, reported with what it was.
import { afterEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import { check } from "../../bench/soak/checker.ts";
import { SOAK_FAQ } from "../../bench/soak/plan.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

describe("soak checker", () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => await cleanup?.());

  it("counts a received message without a ledger row as unexpected and shows it", async () => {
    const tmp = await tempDir("aideazz-checker-");
    cleanup = tmp.cleanup;
    const dbPath = join(tmp.dir, "soak.db");
    const store = await openStore({ url: `file:${dbPath}` });
    await migrate(store.client);
    const reply = { replyKey: "1:answer", inReplyTo: [1], text: SOAK_FAQ[0]!.answer };
    await store.client.batch([
      `INSERT INTO bus_messages (id, topic, okey, payload, idem_key, published_at, visible_at)
        VALUES (1, 'inbound', 'tg1:7', '{}', 'telegram:tg1:100', 0, 0)`,
      {
        sql: `INSERT INTO bus_messages (id, topic, okey, payload, idem_key, published_at, visible_at)
          VALUES (2, 'outbound.tg1', 'tg1:7', ?, 'reply:1:answer', 0, 0)`,
        args: [JSON.stringify(reply)],
      },
      `INSERT INTO bus_send_ledger (reply_key, state, fence, started_at, platform_id, finished_at)
        VALUES ('1:answer#0', 'sent', 1, 0, '501', 0)`,
    ], "write");
    store.close();
    const at = Date.UTC(2026, 10, 28, 15, 44, 10);
    const report = await check({
      dbPath,
      injected: [{
        m: 0,
        chat: 0,
        seq: 0,
        kind: "faq",
        faq: 0,
        text: SOAK_FAQ[0]!.questions[0]!,
        agent: "tg1",
        chatId: "7",
        key: "telegram:tg1:100",
        ackedAt: 1,
        attempts: 1,
        redelivered: 0,
      }],
      received: new Map([["tg1", [
        { chatId: "7", text: reply.text, platformId: "500", at },
        { chatId: "7", text: reply.text, platformId: "501", at: at + 60_000 },
      ]]]),
      faq: SOAK_FAQ,
    });
    expect(report).toMatchObject({ answered: 1, lost: 0, duplicateAnswers: 0, unexpected: 1, userVisibleDuplicates: 1 });
    expect(report.unexpectedExamples).toEqual([
      { agent: "tg1", chat: "7", platformId: "500", at: "2026-11-28T15:44:10.000Z", text: reply.text.slice(0, 80) },
    ]);
  });
});
