// A burst's media, end to end (the real Telegram agent and orchestrator on one store, the fake Bot API and fake
// Groq): a caption in a burst, or a photo followed by its question, is told to the model as a photo it cannot see
// (as for a captioned photo alone, caption-media.test.ts), remembered with it, and not cached for other users.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { openStore, type Store } from "../../src/store/mod.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { runTestAgent } from "../support/agent.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { until } from "../channels/harness.ts";

const GROQ_KEY = "gsk_test_burst_media_123456";
const secrets = { TG_TOKEN: "7111222333:AAH-fake-token-burstmedia", TG_SECRET: "burstmedia_secret", GROQ_KEY };

describe("media in a burst", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let tg: FakeTelegram;
  let groq: FakeGroq;
  let store: Store;
  const running: RunningAgent[] = [];
  let port = 0;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir("aideazz-burst-media-"));
    tg = await startFakeTelegram({ token: secrets.TG_TOKEN });
    groq = await startFakeGroq({ apiKey: GROQ_KEY, requestsPerMinute: 100_000, tokensPerMinute: 10_000_000 });
    port = await freePort();
    const dbUrl = `file:${join(dir, "tg.db")}`;
    const config = loadConfig(
      JSON.stringify({
        store: { url: dbUrl },
        roles: { support: { kind: "support", systemPrompt: "You are Example Co's support bot." } },
        agents: [
          { name: "orchestrator", kind: "orchestrator", port: await freePort() },
          {
            name: "tg",
            kind: "telegram",
            role: "support",
            port,
            telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET", apiRoot: tg.apiRoot },
            experience: { stream: { enabled: false } },
          },
        ],
        router: {
          providers: {
            groq: { kind: "groq", baseUrl: groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 2000 },
          },
          chain: ["groq"],
          retry: { maxAttempts: 1 },
        },
        cache: { checkShare: 0 },
      }),
      secrets,
    );
    for (const name of ["tg", "orchestrator"]) running.push(await runTestAgent({ config, name, secrets }));
    store = await openStore({ url: dbUrl });
  }, 60_000);

  afterAll(async () => {
    store?.close();
    for (const r of running.reverse()) await r.stop();
    await tg?.close();
    await groq?.close();
    await cleanup?.();
  });

  let updateId = 9000;
  async function post(u: Record<string, unknown>) {
    const res = await fetch(`http://127.0.0.1:${port}/telegram/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secrets.TG_SECRET },
      body: JSON.stringify(u),
    });
    expect(res.status).toBe(200);
  }
  const text = (chatId: number, body: string) =>
    post(makeUpdate(telegramFixture("text"), { updateId: ++updateId, chatId, text: body }));
  const photo = (chatId: number, caption: string) => {
    const u = makeUpdate(telegramFixture("photo-caption"), { updateId: ++updateId, chatId });
    const m = (u as { message: Record<string, unknown> }).message;
    m["message_id"] = updateId;
    m["caption"] = caption;
    return post(u);
  };
  const shown = (chatId: number) => tg.sent.filter((s) => Number(s.chatId) === chatId).map((s) => s.text);
  const chatRequests = () =>
    groq.requests.filter((r) => r.path.endsWith("/chat/completions")).map((r) =>
      (r.json as { messages: { role: string; content: string }[] }).messages
    );
  /** The last user turn the chat's conversation remembers. */
  const lastAsked = async (chatId: number) => {
    const rs = await store.client.execute({
      sql: "SELECT text FROM conversation_turns WHERE chat = ? AND role = 'user' ORDER BY id DESC LIMIT 1",
      args: [`tg:${chatId}`],
    });
    return rs.rows[0]?.["text"];
  };

  it("the model is told the burst's caption came with a photo (it cannot see it)", async () => {
    groq.script({ kind: "ok", text: "Yes, that cable fits your router." });
    const before = chatRequests().length;
    await text(801, "Hi, I bought a cable from you last week");
    await photo(801, "Is this the right cable for my router?");
    await until(() => shown(801).length >= 1, 20_000, "the answer");
    await new Promise((r) => setTimeout(r, 2_500)); // the burst's quiet window: no second turn
    const requests = chatRequests().slice(before);
    expect(requests).toHaveLength(1); // one burst, one model call
    const question = requests[0]!.at(-1)!;
    expect(question.role).toBe("user");
    // Both messages, one per line, told a photo came with them: else it answers about a photo it never saw.
    const asked = "Hi, I bought a cable from you last week\nIs this the right cable for my router?";
    expect(question.content).toBe(`[photo, not visible to you] ${asked}`);
    // The conversation remembers the question with its photo.
    expect(await lastAsked(801)).toBe(`[photo] ${asked}`);
  }, 40_000);

  it("a photo, then its question: the model is told of the photo, the answer is not cached for others", async () => {
    groq.script({ kind: "ok", text: "Yes, that cable fits your router." });
    const before = chatRequests().length;
    const u = makeUpdate(telegramFixture("photo-caption"), { updateId: ++updateId, chatId: 802 });
    const m = (u as { message: Record<string, unknown> }).message;
    m["message_id"] = updateId;
    delete m["caption"];
    await post(u);
    await text(802, "Which router does this cable fit?");
    await until(() => shown(802).length >= 1, 20_000, "the answer");
    await new Promise((r) => setTimeout(r, 2_500));
    expect(shown(802)).toEqual(["Yes, that cable fits your router."]); // one answer, no "text only" notice
    const requests = chatRequests().slice(before);
    expect(requests).toHaveLength(1);
    // The question is about the photo just sent: the model is told it came, and that it cannot see it.
    expect(requests[0]!.at(-1)!.content).toBe("[photo, not visible to you] Which router does this cable fit?");
    expect(await lastAsked(802)).toBe("[photo] Which router does this cable fit?");
    // Another user's same words, without a photo, are another question: a model call of their own, not the answer
    // written about chat 802's photo.
    groq.script({ kind: "ok", text: "Which cable do you mean?" });
    await text(806, "Which router does this cable fit?");
    await until(() => shown(806).length >= 1, 20_000, "the second answer");
    expect(shown(806)).toEqual(["Which cable do you mean?"]);
  }, 40_000);
});
