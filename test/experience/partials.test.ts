// The orchestrator's partial-reply publisher on its own: what of a growing text may be shown (a sentence first,
// then whole words), at most one publish per interval carrying the latest text, the role's hygiene applied, and
// close() waiting for the publish in flight (the final reply must come after the last partial); and no working-on-it
// notice once a partial shows.
import { describe, expect, it } from "vitest";
import { createPartialPublisher, showable } from "../../src/agents/orchestrator/experience/partials.ts";
import { callModel } from "../../src/agents/orchestrator/experience/model-call.ts";
import { createLatencyEstimates } from "../../src/agents/orchestrator/experience/notice.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const settings = { enabled: true, editIntervalMs: 100, firstMaxChars: 40 };

describe("showable", () => {
  it("the first partial needs a complete sentence, or firstMaxChars of text cut at a word", () => {
    expect(showable("Hello there", true, 40)).toBeUndefined();
    expect(showable("Hello there. How are", true, 40)).toBe("Hello there.");
    expect(showable("Version 3.5 is out", true, 40)).toBeUndefined(); // "3.5" ends no sentence
    expect(showable(`${"word ".repeat(9)}wor`, true, 40)).toBe("word ".repeat(9).trim());
  });

  it("later partials show whole words only (a half-written link never appears)", () => {
    expect(showable("Hello there. See https://exa", false, 40)).toBe("Hello there. See");
    expect(showable("nospace", false, 40)).toBeUndefined();
  });

  it("Chinese and Japanese have no spaces: 。！？ end a sentence, later partials cut after any whole character", () => {
    expect(showable("您好！我们每天早上九点开门，晚上六点关门。周末", true, 160))
      .toBe("您好！我们每天早上九点开门，晚上六点关门。");
    // Not after the last character, which a variation selector may still join; a link after them is not cut.
    expect(showable("商品は明日発送", false, 40)).toBe("商品は明日発");
    expect(showable("请访问https://exa", false, 40)).toBe("请访问");
  });
});

describe("createPartialPublisher", () => {
  it("publishes the first sentence at once, then at most one update per interval with the latest text", async () => {
    const published: [string, number, number][] = [];
    const started = Date.now();
    const p = createPartialPublisher({
      settings,
      now: Date.now,
      publish: async (text, seq) => {
        published.push([text, seq, Date.now() - started]);
        await sleep(10);
      },
      review: (t) => t,
      onError: (err) => {
        throw err;
      },
    });
    let text = "";
    for (
      const word of "First sentence here. then some more words arrive quickly one by one until the end "
        .split(" ")
    ) {
      text += `${word} `;
      p.update(text);
      await sleep(15);
    }
    await sleep(150);
    expect(await p.close()).toBe(published.length);
    expect(published[0]!.slice(0, 2)).toEqual(["First sentence here.", 1]);
    for (let i = 1; i < published.length; i++) {
      expect(published[i]![2] - published[i - 1]![2]).toBeGreaterThanOrEqual(95);
      expect(published[i]![1]).toBe(i + 1);
    }
    // The trailing update carries the latest text even though no chunk came after it.
    expect(published.at(-1)![0]).toBe(text.trim());
    expect(published.length).toBeLessThan(8);
  });

  it("applies the review; undefined from it ends the partials", async () => {
    const published: string[] = [];
    const p = createPartialPublisher({
      settings: { ...settings, editIntervalMs: 0 },
      now: Date.now,
      publish: (text) => Promise.resolve(void published.push(text)),
      review: (t) => (t.includes("SECRET") ? undefined : t.replace("bad.example", "[link removed]")),
      onError: () => {},
    });
    p.update("See bad.example now. ");
    await sleep(5);
    p.update("See bad.example now. The SECRET is ");
    await sleep(5);
    p.update("See bad.example now. The SECRET is out and more ");
    await sleep(5);
    await p.close();
    expect(published).toEqual(["See [link removed] now."]);
  });

  it("streams a Japanese reply: its first sentence, then the text so far cut between characters", async () => {
    const published: string[] = [];
    const p = createPartialPublisher({
      settings: { ...settings, editIntervalMs: 0 },
      now: Date.now,
      publish: (text) => Promise.resolve(void published.push(text)),
      review: (t) => t,
      onError: () => {},
    });
    const reply = "ご連絡ありがとうございます。ご注文の商品は明日発送されます。追跡番号はメールでお送りします。";
    for (let i = 10; i < reply.length; i += 10) {
      p.update(reply.slice(0, i));
      await sleep(5);
    }
    await p.close();
    // The sentence first; then the rest of that same chunk, less its last character, and so on.
    expect(published).toEqual([14, 19, 29, 39].map((n) => reply.slice(0, n)));
  });

  it("close() waits for the partial being published", async () => {
    let done = false;
    const p = createPartialPublisher({
      settings,
      now: Date.now,
      publish: async () => {
        await sleep(100);
        done = true;
      },
      review: (t) => t,
      onError: () => {},
    });
    p.update("A sentence. ");
    expect(await p.close()).toBe(1);
    expect(done).toBe(true);
  });
});

describe("the working-on-it notice with streamed partials", () => {
  it("is not published once the answer has started to show (a slow stream past thresholdMs)", async () => {
    const events: string[] = [];
    const router = {
      classify: () => ({ tier: "simple" }),
      providersFor: () => [{ name: "groq", kind: "groq", breaker: "closed" }],
      routeStream: async (_input: unknown, onText: (t: string) => void) => {
        onText("Sure, here is the answer. ");
        await new Promise((r) => setTimeout(r, 150)); // still streaming past thresholdMs
        onText("Sure, here is the answer. And more text follows here");
        return { response: { text: "Sure, here is the answer. And more text follows here.", finishReason: "stop" }, decision: {} };
      },
    };
    await callModel({
      router: router as never,
      exp: {
        coalesce: { enabled: true, quietMs: 0, maxWaitMs: 0, maxMessages: 10 },
        stream: { enabled: true, editIntervalMs: 1_000, firstMaxChars: 160 },
        notice: { enabled: true, text: "One moment…", thresholdMs: 50, slowKinds: ["llama-cpp"] },
      },
      delivery: { traceId: undefined, signal: new AbortController().signal } as never,
      channel: "telegram",
      request: { messages: [] } as never,
      turn: {} as never,
      latency: createLatencyEstimates(),
      publish: (text, _kind, suffix, partial) => {
        events.push(partial !== undefined ? `partial ${partial}: ${text}` : `${suffix}: ${text}`);
        return Promise.resolve();
      },
      reviewPartial: (t) => t,
      metrics: { inc: () => {} } as never,
      tracer: { event: () => {} } as never,
      log: { warn: () => {}, debug: () => {} } as never,
      now: () => Date.now(),
    });
    expect(events).toEqual(["partial 1: Sure, here is the answer."]);
  });
});
