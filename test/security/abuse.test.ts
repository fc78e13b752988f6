// RELIABILITY.md F3 end to end, through the real channel agents and orchestrator as processes: one user sends 100
// messages within a minute (limit `conversation.perUserPerMinute` = 20, the default) → answers for at most the
// first 20, then one notice, then silence; the models see at most 20 of the messages, and no model call follows
// the notice. (With burst coalescing several messages share one turn and one answer, so the number of answers
// and model calls may be below 20; every message of a burst counts against the limit.) An over-long message is
// refused with a notice before any model call. On Telegram and on WhatsApp at the same time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../../bench/system/cluster.ts";
import { tempDir } from "../support/tmp.ts";
import { postTelegram, postWhatsApp, repliesTo, sleep, until } from "./support.ts";

const RATE_LIMITED = "You're sending messages faster than I can answer. Please wait a minute.";
const TOO_LONG = "That message is too long for me. Could you shorten it?";
const ANSWER = "Your order is on its way.";

let cluster: Cluster;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir("aideazz-f3-"));
  cluster = await startCluster({
    dir,
    telegram: 1,
    whatsapp: 1,
    analytics: false,
    faq: [{ id: "hours", questions: ["What are your opening hours?"], answer: "9 to 5." }],
    pacing: "raised",
    router: (urls) => ({
      providers: { groq: { kind: "groq", baseUrl: urls.groq, model: "m", apiKeyEnv: "GROQ_API_KEY", maxConcurrent: 16 } },
      chain: ["groq"],
    }),
  });
  cluster.groq.setDefault({ kind: "ok", text: ANSWER });
  await cluster.startAll();
}, 120_000);

afterAll(async () => {
  await cluster?.close();
  await cleanup?.();
});

/** Model calls whose last user message contains `marker`, with how many of the user's messages each one saw. */
function modelCalls(marker: string): { at: number; messages: number }[] {
  return cluster.groq.requests.flatMap((r) => {
    const messages = (r.json as { messages?: { role: string; content: string }[] } | undefined)?.messages ?? [];
    const last = messages.at(-1)?.content ?? "";
    return last.includes(marker) ? [{ at: r.at, messages: last.split(marker).length - 1 }] : [];
  });
}

describe("F3: per-user abuse limits, end to end through a channel", () => {
  it(
    "100 messages in a minute from one user → answers for at most 20, one notice, then silence; no model call after it",
    async () => {
      // The minute slides: wherever the minute boundary falls in the flood, at most 20 are answered.
      const tgChat = 770_001;
      const waUser = "15557700001";
      const sends: Promise<number>[] = [];
      for (let i = 0; i < 100; i++) {
        sends.push(postTelegram(cluster, "tg1", { updateId: 500_000 + i, chatId: tgChat, text: `Flood T${i}: is order ${i} ready?` }));
        sends.push(postWhatsApp(cluster, "wa1", { id: `wamid.FLOOD${i}`, from: waUser, body: `Flood W${i}: is order ${i} ready?` }));
        if (i % 10 === 9) await Promise.all(sends.splice(0)); // ≤ 20 requests in flight; 100 each in a few seconds
      }
      expect((await Promise.all(sends)).every((s) => s === 200)).toBe(true);
      for (const [agent, chat] of [["tg1", String(tgChat)], ["wa1", waUser]] as const) {
        await until(`${agent}: the notice`, () => repliesTo(cluster, agent, chat).includes(RATE_LIMITED), 60_000);
      }
      await sleep(5_000); // nothing more may come
      for (const [agent, chat, marker] of [["tg1", String(tgChat), "Flood T"], ["wa1", waUser, "Flood W"]] as const) {
        const replies = repliesTo(cluster, agent, chat);
        const calls = modelCalls(marker);
        expect(replies.filter((r) => r === RATE_LIMITED)).toHaveLength(1);
        expect(replies.at(-1)).toBe(RATE_LIMITED); // then silence
        expect(replies.filter((r) => r === ANSWER)).toHaveLength(calls.length); // one answer per model call
        expect(replies).toHaveLength(calls.length + 1);
        expect(calls.length).toBeGreaterThan(0);
        expect(calls.reduce((n, c) => n + c.messages, 0)).toBeLessThanOrEqual(20); // the models saw ≤ 20 messages
      }
    },
    150_000,
  );

  it("an over-long message gets one notice and never reaches a model", async () => {
    const long = `Huge ${"a very long question ".repeat(120)}`; // > conversation.maxInputChars (2,000)
    expect(await postTelegram(cluster, "tg1", { updateId: 600_001, chatId: 770_002, text: long })).toBe(200);
    expect(await postWhatsApp(cluster, "wa1", { id: "wamid.LONG1", from: "15557700002", body: long })).toBe(200);
    await until("two notices", () => repliesTo(cluster, "tg1", "770002").length + repliesTo(cluster, "wa1", "15557700002").length >= 2);
    expect(repliesTo(cluster, "tg1", "770002")).toEqual([TOO_LONG]);
    expect(repliesTo(cluster, "wa1", "15557700002")).toEqual([TOO_LONG]);
    expect(modelCalls("Huge ")).toEqual([]);
  }, 60_000);
});
