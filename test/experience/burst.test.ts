// Collecting a burst on its own, on a virtual clock: wait for a quiet chat, never past maxWaitMs, stop at a
// command, at maxMessages and at the input limit, and never take a message that is not on the bus yet.
import { describe, expect, it } from "vitest";
import { collectBurst } from "../../src/agents/orchestrator/experience/burst.ts";
import type { Inbox, InboxRow } from "../../src/agents/orchestrator/experience/inbox.ts";

const settings = { enabled: true, quietMs: 1_500, maxWaitMs: 4_000, maxMessages: 10 };

/** A chat's inbox on a virtual clock: `arrivals` are stored when the clock reaches their time. */
function world(
  arrivals: { at: number; text: string; kind?: InboxRow["kind"]; busId?: number | null; userId?: string }[],
  /** Moves the clock at the start of the first sleep (a wall clock stepped by NTP). */
  step = 0,
) {
  let t = 0;
  let slept = 0;
  const rows: InboxRow[] = arrivals.map((a, i) => ({
    seq: i + 2,
    platformId: String(i + 2),
    kind: a.kind ?? "text",
    text: a.text,
    receivedAt: a.at,
    busId: a.busId === null ? undefined : a.busId ?? 100 + i,
    state: "pending",
    replyKey: undefined,
    userId: a.userId ?? "u1",
  }));
  const inbox: Pick<Inbox, "pendingAfter"> = {
    pendingAfter: (_agent, _chat, seq, limit) =>
      Promise.resolve(rows.filter((r) => r.seq > seq && r.receivedAt <= t).slice(0, limit)),
  };
  const own: InboxRow = {
    seq: 1,
    platformId: "1",
    kind: "text",
    text: "hi",
    receivedAt: 0,
    busId: 99,
    state: "pending",
    replyKey: undefined,
    userId: "u1",
  };
  const collect = (over: Partial<typeof settings> = {}, maxChars = 2_000) =>
    collectBurst({
      inbox: inbox as Inbox,
      now: () => t,
      sleep: (ms) => {
        if (slept === 0) t += step;
        slept += ms;
        t += ms;
        return Promise.resolve();
      },
    }, {
      agent: "tg",
      chatId: "1",
      own,
      userId: "u1",
      settings: { ...settings, ...over },
      wait: true,
      maxChars,
      signal: new AbortController().signal,
    }).then((burst) => ({ texts: burst.map((r) => r.text), at: t, slept }));
  return { collect };
}

describe("collectBurst", () => {
  it("waits until the chat is quiet for quietMs after its last message", async () => {
    const w = world([{ at: 800, text: "I wanted to ask" }, { at: 1_600, text: "how much is pro?" }]);
    expect(await w.collect()).toMatchObject({ texts: ["I wanted to ask", "how much is pro?"], at: 3_100 });
  });

  it("never waits longer than maxWaitMs after the first message, however the user keeps typing", async () => {
    const w = world(Array.from({ length: 8 }, (_, i) => ({ at: 700 * (i + 1), text: `part ${i}` })));
    const { texts, at } = await w.collect();
    expect(at).toBe(4_000);
    expect(texts).toEqual(["part 0", "part 1", "part 2", "part 3", "part 4"]);
  });

  it("in a group, another user's message ends the burst: each user's messages are answered for that user", async () => {
    const w = world([
      { at: 300, text: "and how much is it?" },
      { at: 600, text: "where are you located?", userId: "u2" },
      { at: 900, text: "thanks" },
    ]);
    expect(await w.collect()).toMatchObject({ texts: ["and how much is it?"], at: 1_500 });
  });

  it("a command ends the burst (it is its own turn): no further waiting once it is seen", async () => {
    const w = world([
      { at: 100, text: "and also" },
      { at: 200, text: "/human", kind: "command" },
      { at: 300, text: "x" },
    ]);
    // The first look (t = 0) sees nothing and waits the quiet period; the next one sees the command and stops.
    expect(await w.collect()).toMatchObject({ texts: ["and also"], at: 1_500 });
  });

  it("stops at maxMessages and at the input limit", async () => {
    const many = world(Array.from({ length: 6 }, (_, i) => ({ at: 10 * i, text: `m${i}` })));
    expect((await many.collect({ maxMessages: 3 })).texts).toEqual(["m0", "m1"]);
    const long = world([{ at: 10, text: "a".repeat(50) }, { at: 20, text: "b".repeat(50) }]);
    expect((await long.collect({}, 60)).texts).toEqual(["a".repeat(50)]);
  });

  it("a message stored but not on the bus yet is not taken: the burst ends before it", async () => {
    const w = world([{ at: 100, text: "published" }, { at: 200, text: "publish failed", busId: null }, {
      at: 300,
      text: "after it",
    }]);
    expect((await w.collect()).texts).toEqual(["published"]);
  });

  // The wait was counted on the wall clock alone: a step back of an hour during it made the turn sleep an hour, and
  // the chat with it.
  it("a clock stepped back during the wait does not stretch it past maxWaitMs", async () => {
    const w = world([{ at: 800, text: "how much is pro?" }], -3_600_000);
    const { slept } = await w.collect();
    // The sleep the step fell in counts nothing on a steady clock, and each sleep is at most quietMs.
    expect(slept).toBeLessThanOrEqual(settings.maxWaitMs + 2 * settings.quietMs);
  });
});
