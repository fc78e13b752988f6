// Send pacing: a chat's own gap and back-off delay only that chat; the global rate still spaces every send.
import { describe, expect, it } from "vitest";
import { createPacer } from "../../src/agents/channel/pacer.ts";
import { sleep } from "../../src/agents/channel/sleep.ts";

const since = (t0: number) => performance.now() - t0;

describe("pacer", () => {
  it("one chat's back-off (retry_after, 131056) does not hold up the replies to other chats", async () => {
    const pacer = createPacer({ perKeyMs: 300, perSecond: 1_000, now: Date.now, sleep });
    pacer.defer("a", "chat", Date.now() + 600);
    const t0 = performance.now();
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((k) => pacer.wait(k).then(() => since(t0))));
    expect(a).toBeGreaterThanOrEqual(590);
    expect(b).toBeLessThan(300);
    expect(c).toBeLessThan(300);
  });

  it("the global rate spaces sends to different chats; a chat's gap spaces its own", async () => {
    const pacer = createPacer({ perKeyMs: 400, perSecond: 10, now: Date.now, sleep });
    const t0 = performance.now();
    const times = await Promise.all(["a", "b", "c"].map((k) => pacer.wait(k).then(() => since(t0))));
    const sorted = [...times].sort((x, y) => x - y);
    expect(sorted[1]! - sorted[0]!).toBeGreaterThanOrEqual(90);
    expect(sorted[2]! - sorted[1]!).toBeGreaterThanOrEqual(90);
    await pacer.wait("c");
    expect(since(t0) - times[2]!).toBeGreaterThanOrEqual(395); // c's second send, a chat gap after its first
  });

  it("each chat can have its own gap (a Telegram group's 3 s against a private chat's 1 s)", async () => {
    const pacer = createPacer({ perKeyMs: (chat) => (chat.startsWith("-") ? 400 : 100), perSecond: 1_000, now: Date.now, sleep });
    const t0 = performance.now();
    await Promise.all([pacer.wait("-100"), pacer.wait("7")]);
    const [group, user] = await Promise.all(["-100", "7"].map((k) => pacer.wait(k).then(() => since(t0))));
    expect(group).toBeGreaterThanOrEqual(395);
    expect(user).toBeGreaterThanOrEqual(95);
    expect(user).toBeLessThan(300);
  });

  it("keys of one platform chat (a forum's topics) share its gap and its back-off", async () => {
    const pacer = createPacer({
      perKeyMs: 300,
      perSecond: 1_000,
      now: Date.now,
      sleep,
      chatOf: (key) => key.split("/")[0]!,
    });
    pacer.defer("-100/5", "chat", Date.now() + 400);
    const t0 = performance.now();
    const [topic6, other] = await Promise.all(["-100/6", "-200"].map((k) => pacer.wait(k).then(() => since(t0))));
    expect(topic6).toBeGreaterThanOrEqual(390); // the group's back-off, though another topic asked for it
    expect(other).toBeLessThan(300);
    await pacer.wait("-100");
    expect(since(t0) - topic6!).toBeGreaterThanOrEqual(295); // the group's gap after its topic's send
  });

  it("a back-off that comes while a send waits for its slot holds that send too (another topic's 429; a number's)", async () => {
    for (const scope of ["chat", "all"] as const) {
      const pacer = createPacer({ perKeyMs: 300, perSecond: 1_000, now: Date.now, sleep, chatOf: (key) => key.split("/")[0]! });
      await pacer.wait("-100/5"); // topic 5 sends now; topic 6 waits for the group's slot, 300 ms on
      const t0 = performance.now();
      const topic6 = pacer.wait("-100/6").then(() => since(t0));
      await sleep(50);
      pacer.defer("-100/5", scope, Date.now() + 500); // topic 5's send came back: 429, retry after 500 ms
      expect(await topic6).toBeGreaterThanOrEqual(540);
    }
  });

  // A back-off for every chat only moved the next free global slot: sends that had taken a slot before it (about
  // 32 with the default concurrency) went out during it, into the limit the platform had just reported.
  it("a back-off for every chat holds the sends that already took a global slot (130429 with the number's queue full)", async () => {
    const pacer = createPacer({ perKeyMs: 6_000, perSecond: 10, now: Date.now, sleep });
    const t0 = performance.now();
    // Five chats ready at once take the global slots at 0, 100, 200, 300 and 400 ms.
    const waits = ["a", "b", "c", "d", "e"].map((k) => pacer.wait(k).then(() => since(t0)));
    await sleep(50);
    pacer.defer("a", "all", Date.now() + 1_000); // a's send came back 130429: nothing from the number for 1 s
    const [, ...held] = await Promise.all(waits);
    for (const at of held) expect(at).toBeGreaterThanOrEqual(1_040);
  });
  // A send waits for its slot holding one of the egress consumer's: a chat whose next slot is far off (a busy forum's
  // topics, a back-off) would take them all. `dueLater` tells egress to give such a reply back to the bus instead.
  it("dueLater: 0 while the chat's next slot is within a gap (and a second); its time, untaken, beyond that", () => {
    const pacer = createPacer({ perKeyMs: 1_000, perSecond: 1_000, now: Date.now, sleep, chatOf: (k) => k.split("/")[0]! });
    expect(pacer.dueLater("-100/1")).toBe(0); // idle
    void pacer.wait("-100/1"); // now
    expect(pacer.dueLater("-100/2")).toBe(0); // a gap off: worth waiting for
    void pacer.wait("-100/2");
    const due = pacer.dueLater("-100/3"); // two gaps off: the group's, whichever topic asks
    expect(due).toBeGreaterThan(Date.now() + 1_900);
    expect(due).toBeLessThanOrEqual(Date.now() + 2_000);
    expect(pacer.dueLater("-100/3")).toBe(due); // not taken by asking
    expect(pacer.dueLater("-200")).toBe(0); // another chat
    pacer.defer("-200", "chat", Date.now() + 5_000);
    expect(pacer.dueLater("-200")).toBeGreaterThan(Date.now() + 4_900); // a back-off too
  });

  it("waitGlobal takes the global rate's slots (a call to no chat) after the sends that took theirs first", async () => {
    const pacer = createPacer({ perKeyMs: 0, perSecond: 10, now: Date.now, sleep });
    const t0 = performance.now();
    void pacer.wait("a");
    void pacer.wait("b"); // 100 ms on
    expect(pacer.slotsAhead()).toBeCloseTo(2, 0);
    await pacer.waitGlobal();
    expect(since(t0)).toBeGreaterThanOrEqual(195);
    pacer.defer("a", "all", Date.now() + 300); // a back-off for every chat holds it too
    expect(pacer.slotsAhead()).toBeGreaterThanOrEqual(3);
    await pacer.waitGlobal();
    expect(since(t0)).toBeGreaterThanOrEqual(490);
  });

  it("reports a back-off for every chat that ends later than the one held, with the platform's code", () => {
    const holds: [number, string | undefined][] = [];
    const pacer = createPacer({ perKeyMs: 0, perSecond: 10, now: Date.now, sleep, onHoldAll: (...h) => void holds.push(h) });
    const t = Date.now();
    pacer.defer("a", "all", t + 4_000, "131048");
    pacer.defer("b", "all", t + 2_000, "130429"); // ends before the one held
    pacer.defer("c", "chat", t + 9_000, "131056"); // one chat's
    expect(holds).toEqual([[t + 4_000, "131048"]]);
  });
});
