// A handed-off chat's media sent before its text, end to end (the real Telegram agent and orchestrator on one
// store, the fake Bot API and fake Groq): an album captioned on a later photo, or a photo followed by its question,
// reaches the operator as one forward naming every photo (as an album captioned on its first photo does:
// caption-media.test.ts).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { type FakeTelegram, makeUpdate, startFakeTelegram } from "../fakes/telegram.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { runTestAgent } from "../support/agent.ts";
import { telegramFixture } from "../channels/fixtures.ts";
import { until } from "../channels/harness.ts";

const GROQ_KEY = "gsk_test_paused_media_123456";
const secrets = { TG_TOKEN: "7111222333:AAH-fake-token-pausedmedia", TG_SECRET: "pausedmedia_secret", GROQ_KEY };
const OPERATOR_CHAT = 777;

describe("a paused chat's media before its text", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let tg: FakeTelegram;
  let groq: FakeGroq;
  const running: RunningAgent[] = [];
  let port = 0;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir("aideazz-paused-media-"));
    tg = await startFakeTelegram({ token: secrets.TG_TOKEN });
    groq = await startFakeGroq({ apiKey: GROQ_KEY, requestsPerMinute: 100_000, tokensPerMinute: 10_000_000 });
    port = await freePort();
    const config = loadConfig(
      JSON.stringify({
        store: { url: `file:${join(dir, "tg.db")}` },
        roles: {
          support: {
            kind: "support",
            systemPrompt: "You are Example Co's support bot.",
            operator: { agent: "tg", chatId: String(OPERATOR_CHAT) },
          },
        },
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
  }, 60_000);

  afterAll(async () => {
    for (const r of running.reverse()) await r.stop();
    await tg?.close();
    await groq?.close();
    await cleanup?.();
  });

  let updateId = 5000;
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
  const shown = (chatId: number) => tg.sent.filter((s) => Number(s.chatId) === chatId).map((s) => s.text);
  const chatRequests = () =>
    groq.requests.filter((r) => r.path.endsWith("/chat/completions")).map((r) =>
      (r.json as { messages: { role: string; content: string }[] }).messages
    );
  /** Hands chat `chatId` to the operator (/human); returns the handoff's number. */
  async function handOff(chatId: number): Promise<string> {
    const before = shown(OPERATOR_CHAT).length;
    await text(chatId, "/human");
    await until(() => shown(OPERATOR_CHAT).length > before, 20_000, "the handoff notice");
    const notice = shown(OPERATOR_CHAT)[before]!;
    return /Handoff #(\d+)/.exec(notice)![1]!;
  }

  it("in a handed-off chat, an album captioned on its second photo reaches the operator as one forward", async () => {
    await handOff(612);
    const before = shown(OPERATOR_CHAT).length;
    for (let i = 0; i < 3; i++) {
      const u = makeUpdate(telegramFixture("photo-caption"), { updateId: ++updateId, chatId: 612 });
      const m = (u as { message: Record<string, unknown> }).message;
      m["message_id"] = updateId;
      m["media_group_id"] = "album-612";
      if (i === 1) m["caption"] = "Which of these fits my router?";
      else delete m["caption"];
      await post(u);
    }
    await until(() => shown(OPERATOR_CHAT).length > before, 20_000, "the forward");
    // Past the burst window and the operator chat's pacing: every forward the album makes has gone out.
    await new Promise((r) => setTimeout(r, 6_000));
    const forwards = shown(OPERATOR_CHAT).slice(before);
    // Not "[photo]" alone, then "[photo ×2] …": the photo before the caption is forwarded with it.
    expect(forwards, forwards.join("\n---\n")).toHaveLength(1);
    expect(forwards[0]).toContain("[photo ×3] Which of these fits my router?");
    expect(shown(612)).toHaveLength(1); // the handoff notice only: no bot answer, no "text only" notice
  }, 40_000);

  it("in a handed-off chat, a photo then its question reach the operator as one forward", async () => {
    await handOff(613);
    const before = shown(OPERATOR_CHAT).length;
    const u = makeUpdate(telegramFixture("photo-caption"), { updateId: ++updateId, chatId: 613 });
    const m = (u as { message: Record<string, unknown> }).message;
    m["message_id"] = updateId;
    delete m["caption"];
    await post(u);
    await text(613, "Which router does this cable fit?");
    await until(() => shown(OPERATOR_CHAT).length > before, 20_000, "the forward");
    await new Promise((r) => setTimeout(r, 6_000));
    const forwards = shown(OPERATOR_CHAT).slice(before);
    expect(forwards, forwards.join("\n---\n")).toHaveLength(1);
    expect(forwards[0]).toContain("[photo] Which router does this cable fit?");
    expect(shown(613)).toHaveLength(1);
    expect(chatRequests()).toEqual([]); // no model call in a chat a person has
  }, 40_000);
});
