// Non-text messages sent with a question, end to end (the real Telegram agent and orchestrator on one store, the
// FAQ answering, the fake Bot API): an album is several updates sharing a `media_group_id`, its caption on one of
// them. The user asked one question, so it gets one answer, wherever the caption is; an album without a caption
// gets one "text only" notice, not one per photo.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { runTestAgent } from "../support/agent.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { until } from "../channels/harness.ts";

const secrets = { TG_TOKEN: "7111222333:AAH-fake-token-album", TG_SECRET: "album_secret" };
const ANSWER = "Yes: the TP-200 cable fits every router we sell.";
const QUESTION = "Is this the right cable for my router?";
const NOTICE = "Sorry, I can only read text messages. Please type your question.";

describe("albums and attachments", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let tg: FakeTelegram;
  const running: RunningAgent[] = [];
  let port = 0;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir("aideazz-album-"));
    tg = await startFakeTelegram({ token: secrets.TG_TOKEN });
    const faq = join(dir, "faq.json");
    await writeFile(faq, JSON.stringify({ entries: [{ id: "cable", questions: [QUESTION], answer: ANSWER }] }));
    port = await freePort();
    const config = loadConfig(
      JSON.stringify({
        store: { url: `file:${join(dir, "album.db")}` },
        roles: { support: { kind: "support", systemPrompt: "Be nice.", faq } },
        agents: [
          { name: "orchestrator", kind: "orchestrator", port: await freePort() },
          {
            name: "tg",
            kind: "telegram",
            role: "support",
            port,
            telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg.apiRoot },
          },
        ],
      }),
      secrets,
    );
    for (const name of ["tg", "orchestrator"]) running.push(await runTestAgent({ config, name, secrets }));
  }, 60_000);

  afterAll(async () => {
    for (const r of running.reverse()) await r.stop();
    await tg?.close();
    await cleanup?.();
  });

  let updateId = 100;
  /** Posts an album of photos to `chatId`, the caption on item `captionAt` (none: no caption). */
  async function album(chatId: number, captionAt?: number) {
    for (let i = 0; i < 3; i++) {
      const u = makeUpdate(telegramFixture("photo-caption"), { updateId: ++updateId, chatId });
      const m = (u as { message: Record<string, unknown> }).message;
      m["message_id"] = updateId;
      m["media_group_id"] = `album-${chatId}`;
      if (i === captionAt) m["caption"] = QUESTION;
      else delete m["caption"];
      const res = await fetch(`http://127.0.0.1:${port}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secrets.TG_SECRET },
        body: JSON.stringify(u),
      });
      expect(res.status).toBe(200);
    }
  }
  const shown = (chatId: number) => tg.sent.filter((s) => s.chatId === chatId).map((s) => s.text);
  /** Waits for the chat's first reply, then long enough for any other (the burst's quiet period and more). */
  async function replies(chatId: number) {
    await until(() => shown(chatId).length >= 1, 20_000, `chat ${chatId}'s reply`);
    await new Promise((r) => setTimeout(r, 4_000));
    return shown(chatId);
  }

  it("the caption on the first photo: one answer, no notice for the others", async () => {
    await album(701, 0);
    expect(await replies(701)).toEqual([ANSWER]);
  }, 40_000);

  it("the caption on a later photo: one answer, no notice for the ones before it", async () => {
    await album(702, 1);
    expect(await replies(702)).toEqual([ANSWER]);
  }, 40_000);

  it("no caption at all: one notice for the album", async () => {
    await album(703);
    expect(await replies(703)).toEqual([NOTICE]);
  }, 40_000);
});
