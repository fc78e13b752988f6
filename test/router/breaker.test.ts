import { describe, expect, it } from "vitest";
import { createBreaker } from "../../src/router/breaker.ts";
import { fakeClock } from "./providers/support.ts";

const cfg = { failureThreshold: 3, windowMs: 10_000, cooldownMs: 30_000 };

describe("breaker", () => {
  it("opens after the threshold of failures within the window, not for failures spread wider", () => {
    const clock = fakeClock();
    const b = createBreaker({ ...cfg, now: clock.now });
    b.tryAcquire()?.failure();
    clock.advance(6_000);
    b.tryAcquire()?.failure();
    clock.advance(6_000); // the first failure left the window
    b.tryAcquire()?.failure();
    expect(b.state()).toBe("closed");
    b.tryAcquire()?.failure();
    expect(b.state()).toBe("open");
    expect(b.tryAcquire()).toBeUndefined();
    expect(b.retryAt()).toBe(clock.now() + 30_000);
  });

  it("lets exactly one probe through when half-open; its failure reopens, its success closes", () => {
    const clock = fakeClock();
    const changes: string[] = [];
    const b = createBreaker({
      ...cfg,
      now: clock.now,
      onChange: (from, to) => changes.push(`${from}->${to}`),
    });
    for (let i = 0; i < 3; i++) b.tryAcquire()?.failure();
    clock.advance(29_999);
    expect(b.tryAcquire()).toBeUndefined();
    clock.advance(1);
    const probe = b.tryAcquire();
    expect(probe).toBeDefined();
    expect(b.state()).toBe("half-open");
    expect([b.tryAcquire(), b.tryAcquire()]).toEqual([undefined, undefined]);
    probe?.failure();
    expect(b.state()).toBe("open");
    clock.advance(30_000);
    const second = b.tryAcquire();
    second?.success();
    expect(b.state()).toBe("closed");
    expect(b.tryAcquire()).toBeDefined();
    expect(changes).toEqual([
      "closed->open",
      "open->half-open",
      "half-open->open",
      "open->half-open",
      "half-open->closed",
    ]);
  });

  it("a probe released without a verdict (400/401/429) frees the probe slot and keeps half-open", () => {
    const clock = fakeClock();
    const b = createBreaker({ ...cfg, now: clock.now });
    for (let i = 0; i < 3; i++) b.tryAcquire()?.failure();
    clock.advance(30_000);
    b.tryAcquire()?.release();
    expect(b.state()).toBe("half-open");
    expect(b.tryAcquire()).toBeDefined();
  });

  it("a late failure of a call admitted before the breaker opened does not extend the open period", () => {
    const clock = fakeClock();
    const b = createBreaker({ ...cfg, now: clock.now });
    const late = b.tryAcquire();
    for (let i = 0; i < 3; i++) b.tryAcquire()?.failure();
    const openUntil = b.retryAt();
    clock.advance(5_000);
    late?.failure();
    expect(b.retryAt()).toBe(openUntil);
  });
});
