// A photo with a caption, end to end (the real Telegram agent and orchestrator on one store, the fake Bot API and
// fake Groq): the caption is the text, and the model, the operator of a handed-off chat and an operator relaying an
// answer are each told a photo came with it (nobody sees it). So are they when the photo and its words are two
// messages of one burst (a caption after a text, a photo before its question, an album captioned on a later photo),
// and such an answer is remembered with its photo and not cached for other users.
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

const GROQ_KEY = "gsk_test_nontext_key_123456";
const secrets = { TG_TOKEN: "7111222333:AAH-fake-token-nontext", TG_SECRET: "nontext_secret", GROQ_KEY };
const OPERATOR_CHAT = 777;

describe("a captioned photo keeps its photo", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let tg: FakeTelegram;
  let groq: FakeGroq;
  let store: Store;
  const running: RunningAgent[] = [];
  let port = 0;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir("aideazz-nontext-tg-"));
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
    store = await openStore({ url: `file:${join(dir, "tg.db")}` });
  }, 60_000);

  afterAll(async () => {
    store?.close();
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
  /** A photo (one of an album when `album` is given), with `caption` or none. */
  const photoOf = (chatId: number, opts: { album?: string; caption?: string } = {}) => {
    const u = makeUpdate(telegramFixture("photo-caption"), { updateId: ++updateId, chatId });
    const m = (u as { message: Record<string, unknown> }).message;
    m["message_id"] = updateId;
    if (opts.album) m["media_group_id"] = opts.album;
    if (opts.caption) m["caption"] = opts.caption;
    else delete m["caption"];
    return post(u);
  };
  /** The last user turn the chat's conversation remembers. */
  const lastAsked = async (chatId: number) => {
    const rs = await store.client.execute({
      sql: "SELECT text FROM conversation_turns WHERE chat = ? AND role = 'user' ORDER BY id DESC LIMIT 1",
      args: [`tg:${chatId}`],
    });
    return rs.rows[0]?.["text"];
  };
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

  it("the model is told a photo came with the question (it cannot see it), and the answer is not cached", async () => {
    groq.script({ kind: "ok", text: "Yes, that cable fits your router." });
    await photoOf(601, { caption: "Is this the right cable for my router?" });
    await until(() => shown(601).length >= 1, 20_000, "the answer");
    const [request] = chatRequests();
    const question = request!.at(-1)!;
    expect(question.role).toBe("user");
    expect(question.content).toBe("[photo, not visible to you] Is this the right cable for my router?");
    // Not cached: the same words without the photo are another question, with a model call of its own.
    groq.script({ kind: "ok", text: "Which cable do you mean?" });
    await text(605, "Is this the right cable for my router?");
    await until(() => shown(605).length >= 1, 20_000, "the second answer");
    expect(shown(605)).toEqual(["Which cable do you mean?"]);
    expect(chatRequests()).toHaveLength(2);
  }, 40_000);

  it("in a handed-off chat, the operator is told the user's captioned message carried a photo", async () => {
    await handOff(602);
    const before = shown(OPERATOR_CHAT).length;
    await photoOf(602, { caption: "This is the damage on the box" });
    await until(() => shown(OPERATOR_CHAT).length > before, 20_000, "the forward");
    const forward = shown(OPERATOR_CHAT)[before]!;
    // As a photo without a caption reads "[photo]": the operator can ask for it another way.
    expect(forward).toContain("[photo] This is the damage on the box");
  }, 40_000);

  it("in a handed-off chat, an album (one caption, three photos) reaches the operator as one forward", async () => {
    await handOff(604);
    const before = shown(OPERATOR_CHAT).length;
    for (let i = 0; i < 3; i++) {
      await photoOf(604, { album: "album-604", ...(i === 0 ? { caption: "Which of these fits my router?" } : {}) });
    }
    await until(() => shown(OPERATOR_CHAT).length > before, 20_000, "the forward");
    // Past the burst window and the operator chat's pacing: every forward the album makes has gone out.
    await new Promise((r) => setTimeout(r, 6_000));
    const forwards = shown(OPERATOR_CHAT).slice(before);
    // One forward naming all three photos, as the bot answers an album once (attachments.test.ts).
    expect(forwards).toHaveLength(1);
    expect(forwards[0]).toContain("[photo ×3] Which of these fits my router?");
  }, 40_000);

  it("an operator's /reply sent as a photo caption: the operator is told only the text was sent", async () => {
    const id = await handOff(603);
    const before = shown(OPERATOR_CHAT).length;
    await photoOf(OPERATOR_CHAT, { caption: `/reply ${id} Please print this return label and stick it on the box.` });
    await until(() => shown(603).includes("Please print this return label and stick it on the box."), 20_000, "relay");
    await until(() => shown(OPERATOR_CHAT).length > before, 20_000, "the operator's ack");
    const ack = shown(OPERATOR_CHAT)[before]!;
    // The user got the text without the label: the operator is told so.
    expect(ack).toBe(`Sent the text only to #${id} tg:603: photos and files are not relayed.`);
  }, 40_000);

  it("in a handed-off chat, an album captioned on its second photo reaches the operator as one forward", async () => {
    await handOff(612);
    const before = shown(OPERATOR_CHAT).length;
    for (let i = 0; i < 3; i++) {
      await photoOf(612, { album: "album-612", ...(i === 1 ? { caption: "Which of these fits my router?" } : {}) });
    }
    await until(() => shown(OPERATOR_CHAT).length > before, 20_000, "the forward");
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
    const calls = chatRequests().length;
    await photoOf(613);
    await text(613, "Which router does this cable fit?");
    await until(() => shown(OPERATOR_CHAT).length > before, 20_000, "the forward");
    await new Promise((r) => setTimeout(r, 6_000));
    const forwards = shown(OPERATOR_CHAT).slice(before);
    expect(forwards, forwards.join("\n---\n")).toHaveLength(1);
    expect(forwards[0]).toContain("[photo] Which router does this cable fit?");
    expect(shown(613)).toHaveLength(1);
    expect(chatRequests()).toHaveLength(calls); // no model call in a chat a person has
  }, 40_000);

  it("the model is told the burst's caption came with a photo (it cannot see it)", async () => {
    groq.script({ kind: "ok", text: "Yes, that cable fits your router." });
    const before = chatRequests().length;
    await text(801, "Hi, I bought a cable from you last week");
    await photoOf(801, { caption: "Is this the right cable for my router?" });
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
    await photoOf(802);
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
