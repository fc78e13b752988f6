// A wall clock stepped back (an NTP step, a VM restored from a snapshot) must not hold an agent's waits for the
// length of the step: the pacer, the typing budget, the breakers, the per-address limit and the quota buckets.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPacer } from "../src/agents/channel/pacer.ts";
import { createMinuteCounter } from "../src/agents/client-address.ts";
import { createTyping } from "../src/agents/channel/typing.ts";
import { createBreaker } from "../src/router/breaker.ts";
import { createQuota } from "../src/router/quota.ts";
import { fakeClock, type TestStore, testStore } from "./router/providers/support.ts";

const HOUR = 3_600_000;

/** A wall clock the test steps, and a sleep that records what was asked and moves the clock by it. */
function wallClock(start = Date.UTC(2030, 2, 31, 0, 59, 0)) {
  let t = start;
  const slept: number[] = [];
  return {
    now: () => t,
    step: (ms: number) => void (t += ms),
    slept,
    sleep: (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) return Promise.reject(signal.reason);
      slept.push(ms);
      t += Math.max(0, ms);
      return new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}
const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe("send pacer after the wall clock steps back an hour", () => {
  it("a reply to another chat is not held for the hour (Telegram's defaults: 1 s per chat, 30/s)", async () => {
    const clock = wallClock();
    const pacer = createPacer({ perKeyMs: 1_000, perSecond: 30, now: clock.now, sleep: clock.sleep });
    await pacer.wait("111"); // a reply to one chat goes out
    clock.step(-HOUR); // NTP steps the clock back
    const before = clock.slept.length;
    await pacer.wait("222"); // a chat nothing was sent to yet
    // At most the global slot's gap (34 ms); the pacer asks to sleep the whole step (3,600,034 ms).
    expect(total(clock.slept.slice(before))).toBeLessThan(1_000);
  });

  it("the next reply to the same chat waits its 1 s gap, not the hour", async () => {
    const clock = wallClock();
    const pacer = createPacer({ perKeyMs: 1_000, perSecond: 30, now: clock.now, sleep: clock.sleep });
    await pacer.wait("111");
    clock.step(-HOUR);
    const before = clock.slept.length;
    await pacer.wait("111");
    expect(total(clock.slept.slice(before))).toBeLessThanOrEqual(1_000);
  });
});

describe("typing indicator's action budget after the wall clock steps back an hour", () => {
  it("a new message still gets its typing action / WhatsApp mark-as-read token", () => {
    const clock = wallClock();
    const typing = createTyping({
      refreshMs: 4_500,
      maxMs: 120_000,
      maxPerSecond: 10,
      now: clock.now,
      sleep: clock.sleep,
      send: () => Promise.resolve(),
    });
    expect(typing.take()).toBe(true); // a message marked read at ingress
    clock.step(-HOUR);
    clock.step(5_000);
    // Not a refill by a negative amount (-36,000 tokens), which left no action for the hour.
    expect(typing.take()).toBe(true);
  });
});

describe("provider breaker after the wall clock steps back an hour", () => {
  it("an open breaker half-opens at most one cooldown after the step, not after the step plus the cooldown", () => {
    const clock = fakeClock();
    const b = createBreaker({ failureThreshold: 3, windowMs: 10_000, cooldownMs: 30_000, now: clock.now });
    for (let i = 0; i < 3; i++) b.tryAcquire()?.failure();
    expect(b.state()).toBe("open");
    clock.advance(-HOUR);
    // Time is read only when asked: what passed across the step is unknown, so at most one more cooldown.
    expect(b.retryAt()).toBe(clock.now() + 30_000);
    clock.advance(30_000);
    expect(b.retryAt()).toBe(clock.now());
    expect(b.tryAcquire()).toBeDefined();
  });
});

describe("provider quota after the wall clock steps back an hour", () => {
  let ts: TestStore;
  beforeEach(async () => (ts = await testStore()));
  afterEach(() => ts.cleanup());

  it("an emptied bucket refills from the first take after the step, not an hour later", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", { requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect((await q.take("groq", "llama", 10)).ok).toBe(true);
    clock.advance(-HOUR);
    clock.advance(60_000);
    // How long passed across the step is unknown: the bucket refills from now (one request per 20 s), never more
    // than the free tier allows.
    const refused = await q.take("groq", "llama", 10);
    expect(refused).toEqual({ ok: false, reason: "rpm", retryAt: clock.now() + 20_000 });
    clock.advance(20_000);
    expect(await q.take("groq", "llama", 10)).toEqual({ ok: true });
    expect((await q.take("groq", "llama", 10)).ok).toBe(false);
  });

  it("a 429's retry-after of 7 s keeps the model out 7 s after the step, not an hour and 7 s", async () => {
    const clock = fakeClock();
    const q = createQuota({ client: ts.store.client, now: clock.now });
    await q.ensure("groq", "llama", { requestsPerMinute: 30 });
    expect((await q.take("groq", "llama", 10)).ok).toBe(true);
    expect((await q.take("groq", "llama", 10)).ok).toBe(true);
    await q.settle("groq", "llama", { takenTokens: 10, usedTokens: 0, blockForMs: 7_000 });
    clock.advance(-HOUR);
    // The other call, in flight across the step, ends: its settling keeps the block as long as it was.
    await q.settle("groq", "llama", { takenTokens: 10, usedTokens: 10 });
    expect(await q.take("groq", "llama", 10)).toEqual({ ok: false, reason: "blocked", retryAt: clock.now() + 7_000 });
    clock.advance(7_000);
    expect(await q.take("groq", "llama", 10)).toEqual({ ok: true });
    // A model without limits (a local server that sent a retry-after) too.
    await q.ensure("local", "tiny", undefined);
    expect((await q.take("local", "tiny", 10)).ok).toBe(true);
    await q.settle("local", "tiny", { takenTokens: 10, usedTokens: 0, blockForMs: 7_000 });
    clock.advance(-HOUR);
    expect(await q.take("local", "tiny", 10)).toEqual({ ok: false, reason: "blocked", retryAt: clock.now() + 7_000 });
    clock.advance(7_000);
    expect(await q.take("local", "tiny", 10)).toEqual({ ok: true });
  });
});

describe("web chat per-address minute limit after the wall clock steps back an hour", () => {
  it("a visitor who hit the limit waits for the next minute, not an hour (Retry-After)", () => {
    const clock = fakeClock();
    const limit = createMinuteCounter(2, clock.now);
    limit.count("addr");
    limit.count("addr");
    expect(limit.waitS("addr")).toBe(60);
    clock.advance(-HOUR);
    expect(limit.waitS("addr")).toBe(60); // what passed across the step is unknown: at most one more minute
    clock.advance(60_000);
    expect(limit.waitS("addr")).toBe(0);
  });
});
