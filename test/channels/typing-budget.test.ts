// The typing indicator's budget: typing actions are API calls within the bot's limits, so the agent sends at most
// `maxPerSecond` of them over all its chats; a renewal without budget is skipped (its check too), not queued.
import { describe, expect, it } from "vitest";
import type { Sleep } from "../../src/agents/channel/sleep.ts";
import { createTyping } from "../../src/agents/channel/typing.ts";

/** A clock moved by the test: `sleep` resolves when `advance` passes its deadline. */
function manualTime() {
  let t = 0;
  const waiting: { at: number; resolve: () => void }[] = [];
  const sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      waiting.push({ at: t + ms, resolve });
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  /** Lets woken loops run to their next sleep (a check and a send take a macrotask each here). */
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  };
  return {
    now: () => t,
    sleep,
    settle,
    async advance(ms: number) {
      const end = t + ms;
      while (true) {
        await settle();
        const due = waiting.filter((w) => w.at <= end);
        if (due.length === 0) break;
        // Every sleeper due at the earliest deadline wakes in the same tick, as timers set together do.
        t = Math.min(...due.map((w) => w.at));
        for (const w of due.filter((w) => w.at === t)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve();
        }
      }
      t = end;
      await settle();
    },
  };
}

function typingWith(maxPerSecond: number, room?: () => boolean) {
  const time = manualTime();
  const sent: [string, number][] = [];
  const expired: [string, number][] = [];
  let checks = 0;
  const typing = createTyping({
    refreshMs: 1_000,
    maxMs: 10_000,
    maxPerSecond,
    ...(room ? { room } : {}),
    sleep: time.sleep,
    now: time.now,
    send: (chat) => {
      sent.push([chat, time.now()]);
      return Promise.resolve();
    },
    stillWaiting: async () => {
      checks++;
      await new Promise((r) => setTimeout(r, 0)); // a query: every renewal woken with this one runs meanwhile
      return true;
    },
    expired: (chat) => void expired.push([chat, time.now()]),
  });
  return { time, typing, sent, expired, checks: () => checks };
}

describe("typing budget", () => {
  it("sends at most maxPerSecond actions over all chats; the others' renewals are skipped, checks included", async () => {
    const { time, typing, sent, checks } = typingWith(5);
    for (let chat = 0; chat < 20; chat++) typing.start(String(chat));
    await time.settle();
    expect(sent).toHaveLength(5); // a second's worth at once, then 5 a second
    await time.advance(1_000);
    expect(sent).toHaveLength(10);
    await time.advance(4_000);
    expect(sent).toHaveLength(30);
    // 20 chats renewed every second would have made 100 calls and 80 checks; a check takes a token first.
    expect(checks()).toBe(25);
    expect(new Set(sent.map(([chat]) => chat)).size).toBeGreaterThan(5); // not always the same chats
    typing.stopAll();
  });

  it("renews one chat every refreshMs while the budget lasts, and stops with stop()", async () => {
    const { time, typing, sent } = typingWith(5);
    typing.start("7");
    await time.advance(3_500);
    expect(sent.map(([, at]) => at)).toEqual([0, 1_000, 2_000, 3_000]);
    typing.stop("7");
    await time.advance(3_000);
    expect(sent).toHaveLength(4);
  });

  it("actions taken outside the loop (take) share the budget; a start after one begins with the first renewal", async () => {
    const { time, typing, sent } = typingWith(5);
    for (let i = 0; i < 4; i++) expect(typing.take()).toBe(true);
    typing.start("a", true); // its first action taken by the caller
    typing.start("b"); // the budget's last token
    typing.start("c"); // none left: its first action waits for a renewal
    await time.settle();
    expect(sent).toEqual([["b", 0]]);
    expect(typing.take()).toBe(false);
    await time.advance(1_000);
    expect(sent.map(([chat]) => chat).sort()).toEqual(["a", "b", "b", "c"]);
    typing.stopAll();
  });
  it("an action needs room in a limit it shares with the messages too (WhatsApp's throughput): else it is skipped", async () => {
    let room = false;
    const { time, typing, sent } = typingWith(5, () => room);
    expect(typing.take()).toBe(false); // replies hold the slots ahead
    typing.start("a");
    await time.settle();
    expect(sent).toEqual([]);
    room = true;
    expect(typing.take()).toBe(true);
    await time.advance(1_000); // the renewal
    expect(sent).toEqual([["a", 1_000]]);
    typing.stopAll();
  });

  it("says when an indicator ran out its maxMs (what it left undone is still owed), not when it was stopped", async () => {
    const { time, typing, expired } = typingWith(5, () => false); // no room all along: nothing sent
    typing.start("a");
    typing.start("b");
    await time.advance(5_000);
    typing.stop("b");
    await time.advance(6_000);
    expect(expired).toEqual([["a", 10_000]]);
    expect(typing.active()).toEqual([]);
  });
});
