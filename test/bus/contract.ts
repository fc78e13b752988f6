// The bus contract every implementation passes (STYLE.md §2): `runBusContract(name, makeBus)` registers the
// suite. Time is an injected clock the tests move; consumers are told to look again every 10 ms of real time.
import { afterEach, describe, expect, it } from "vitest";
import {
  type Bus,
  type Consumer,
  type Delivery,
  HandlerTimeoutError,
  LeaseLostError,
  NotYetError,
  PermanentError,
  RetryLaterError,
} from "../../src/bus/mod.ts";

export interface Clock {
  now(): number;
  advance(ms: number): void;
}

export interface BusHarness {
  bus: Bus;
  cleanup(): Promise<void>;
}

/** Builds a fresh, empty bus on `clock` with `random` for retry jitter; idle consumers look every ~10 ms. */
export type MakeBus = (deps: { now: () => number; random: () => number }) => Promise<BusHarness>;

export function fakeClock(start = 1_700_000_000_000): Clock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A handler that records what `pick` takes from each delivery and acks it. */
function into<T>(list: T[], pick: (d: Delivery) => T) {
  return (d: Delivery) => {
    list.push(pick(d));
    return Promise.resolve();
  };
}

/** A latch a handler can wait on. */
function latch() {
  let open!: () => void;
  const p = new Promise<void>((resolve) => (open = resolve));
  return { wait: () => p, open };
}

export function runBusContract(name: string, makeBus: MakeBus) {
  describe(`bus contract: ${name}`, () => {
    let clock: Clock;
    let harness: BusHarness | undefined;
    const consumers: Consumer[] = [];

    async function setup(random: () => number = () => 0.5): Promise<Bus> {
      clock = fakeClock();
      harness = await makeBus({ now: () => clock.now(), random });
      return harness.bus;
    }

    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.stop(100)));
      await harness?.bus.close();
      await harness?.cleanup();
      harness = undefined;
    });

    function consume(
      bus: Bus,
      opts: Omit<Parameters<Bus["consume"]>[0], "topic" | "group"> & { topic?: string; group?: string },
    ) {
      const c = bus.consume({ topic: "t", group: "g", ...opts });
      consumers.push(c);
      return c;
    }

    const msg = (key: string, payload: unknown, extra: Record<string, unknown> = {}) =>
      ({ topic: "t", key, payload, ...extra }) as Parameters<Bus["publish"]>[0][number];

    it("publish() with a known idempotency key is a no-op that reports the original id", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      const [first] = await bus.publish([msg("a", 1, { idempotencyKey: "tg:1" })]);
      expect(first).toEqual({ id: expect.any(Number), duplicate: false });
      expect(await bus.publish([msg("a", 1, { idempotencyKey: "tg:1" })])).toEqual([{
        id: first!.id,
        duplicate: true,
      }]);
      const batch = await bus.publish([
        msg("a", 2, { idempotencyKey: "tg:2" }),
        msg("a", 1, { idempotencyKey: "tg:1" }),
        msg("a", 2, { idempotencyKey: "tg:2" }),
        msg("a", 3),
      ]);
      expect(batch.map((r) => r.duplicate)).toEqual([false, true, true, false]);
      expect(batch[1]!.id).toBe(first!.id);
      expect(batch[2]!.id).toBe(batch[0]!.id);
      const seen: unknown[] = [];
      consume(bus, { handler: into(seen, (d) => d.payload) });
      await waitFor(() => seen.length >= 3, "three messages");
      await sleep(50);
      expect(seen).toEqual([1, 2, 3]);
    });

    it("publish() of a batch is atomic: one invalid message writes nothing", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await expect(bus.publish([msg("a", 1), msg("a", 2), msg("a", 10n)])).rejects.toThrow(/JSON/);
      await expect(bus.publish([msg("a", 1), { topic: "", key: "a", payload: 1 }])).rejects.toThrow(
        /message 1: topic/,
      );
      // Text SQLite would store as bytes that are not UTF-8 (libsql aborts the process reading them back).
      for (const bad of [{ key: "a\uD800" }, { idempotencyKey: "x\uDC00y" }, { traceId: "\uD83D" }]) {
        await expect(bus.publish([{ ...msg("a", 1), ...bad }])).rejects.toThrow(/message 0: \w+ is not well-formed text/);
      }
      expect((await bus.stats())[0]).toMatchObject({ ready: 0, inFlight: 0, delayed: 0 });
      expect(await bus.publish([])).toEqual([]);
    });

    it("fans out to every subscribed group, each with its own delivery state", async () => {
      const bus = await setup();
      await bus.subscribe("t", "orchestrator");
      await bus.subscribe("t", "analytics");
      await bus.publish([msg("a", 1), msg("b", 2), msg("a", 3)]);
      const got: number[] = [];
      consume(bus, { group: "orchestrator", handler: into(got, (d) => d.payload as number) });
      await waitFor(() => got.length === 3, "orchestrator to handle 3");
      await waitFor(
        async () => (await bus.stats()).find((s) => s.group === "orchestrator")!.ready === 0,
        "acks",
      );
      const stats = await bus.stats();
      expect(stats.find((s) => s.group === "analytics")).toMatchObject({ topic: "t", ready: 3, inFlight: 0 });
      const attempts: number[] = [];
      consume(bus, { group: "analytics", handler: into(attempts, (d) => d.attempt) });
      await waitFor(() => attempts.length === 3, "analytics to handle 3");
      expect(attempts).toEqual([1, 1, 1]);
      expect(got.sort()).toEqual([1, 2, 3]);
    });

    it("never hands out a key's next message while the previous is in flight or waiting for retry; other keys flow", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("chat-x", "x1"), msg("chat-x", "x2"), msg("chat-y", "y1"), msg("chat-x", "x3")]);
      const seen: string[] = [];
      const gate = latch();
      consume(bus, {
        concurrency: 8,
        retryBaseMs: 1_000,
        handler: async (d) => {
          seen.push(`${d.payload}#${d.attempt}`);
          if (d.payload === "x1" && d.attempt === 1) {
            await gate.wait();
            throw new Error("first attempt fails");
          }
        },
      });
      await waitFor(() => seen.includes("y1#1") && seen.includes("x1#1"), "x1 and y1");
      await sleep(60);
      expect(seen).not.toContain("x2#1"); // x1 in flight
      gate.open();
      await waitFor(async () => (await bus.stats())[0]!.delayed === 1, "x1 waiting for retry");
      await sleep(60);
      expect(seen).not.toContain("x2#1"); // x1 waiting for retry
      await bus.publish([msg("chat-y", "y2")]);
      await waitFor(() => seen.includes("y2#1"), "y2 while x waits");
      clock.advance(1_000);
      await waitFor(() => seen.includes("x3#1"), "x1 retried, then x2, x3");
      expect(seen.filter((s) => s.startsWith("x"))).toEqual(["x1#1", "x1#2", "x2#1", "x3#1"]);
    });

    it("an expired lease is claimable again under a higher fence, and the old lease can no longer extend or ack", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("a", "m")]);
      const gate = latch();
      let first: Delivery | undefined;
      consume(bus, {
        concurrency: 1,
        leaseMs: 1_000,
        heartbeat: false,
        handler: async (d) => {
          first ??= d;
          if (d === first) await gate.wait();
        },
      });
      await waitFor(() => first !== undefined, "first delivery");
      await first!.assertLease();
      clock.advance(1_001);
      const second: Delivery[] = [];
      const gate2 = latch();
      consume(bus, {
        concurrency: 1,
        handler: async (d) => {
          second.push(d);
          await gate2.wait();
        },
      });
      await waitFor(() => second.length === 1, "redelivery");
      expect(second[0]!.fence).toBeGreaterThan(first!.fence);
      expect(second[0]!.attempt).toBe(2);
      // The old handler finishes without knowing: the store refuses its ack, the new lease keeps the message.
      gate.open();
      await sleep(60);
      expect((await bus.stats())[0]).toMatchObject({ ready: 0, inFlight: 1 });
      await expect(first!.extendLease()).rejects.toBeInstanceOf(LeaseLostError);
      await expect(first!.assertLease()).rejects.toBeInstanceOf(LeaseLostError);
      let wrote = false;
      await expect(first!.underLease(() => Promise.resolve(void (wrote = true)))).rejects.toBeInstanceOf(LeaseLostError);
      expect(wrote).toBe(false);
      expect(first!.signal.aborted).toBe(true);
      await second[0]!.assertLease();
      expect(await second[0]!.underLease(() => Promise.resolve("written"))).toBe("written");
      gate2.open();
      await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "ack of the second lease");
      await sleep(60);
      expect(second).toHaveLength(1);
      expect((await bus.stats())[0]).toMatchObject({ ready: 0, inFlight: 0, deadLetters: 0 });
    });

    it("an expired lease that no claim took is still its holder's: its ack applies, and the message is handled once", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("a", "x"), msg("b", "y")]);
      const handled: string[] = [];
      const gateA = latch();
      consume(bus, {
        concurrency: 2,
        leaseMs: 1_000,
        heartbeat: false,
        handler: async (d) => {
          handled.push(`A:${d.payload}`);
          await gateA.wait();
        },
      });
      await waitFor(() => handled.length === 2, "both claimed by A");
      clock.advance(1_001); // both leases expired
      const gateB = latch();
      consume(bus, {
        concurrency: 1, // takes one of the two (x: the same due time, the lower id), not the other
        handler: async (d) => {
          handled.push(`B:${d.payload}`);
          await gateB.wait();
        },
      });
      await waitFor(() => handled.length === 3, "B's claim");
      expect(handled[2]).toBe("B:x");
      gateA.open(); // A's x is refused (B holds it now); A's y is acked: nobody took it over
      await sleep(60);
      gateB.open();
      await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "the acks");
      await sleep(60);
      expect(handled.filter((h) => h.endsWith(":y"))).toEqual(["A:y"]);
      expect((await bus.stats())[0]).toMatchObject({ ready: 0, inFlight: 0, delayed: 0, deadLetters: 0 });
    });

    it("a message whose leases expired past maxAttempts is dead-lettered, its trace given to onDeadLetter", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("a", "m", { traceId: "tr-hung" })]);
      const gate = latch();
      let claimed = 0;
      consume(bus, {
        concurrency: 1,
        leaseMs: 1_000,
        heartbeat: false,
        maxAttempts: 1,
        handler: async () => {
          claimed++;
          await gate.wait(); // a hung handler: its lease expires
        },
      });
      await waitFor(() => claimed === 1, "first delivery");
      clock.advance(1_001);
      const dead: { id: number; traceId: string | undefined; error: string }[] = [];
      consume(bus, { concurrency: 1, maxAttempts: 1, handler: () => Promise.resolve(), onDeadLetter: (d) => dead.push(d) });
      await waitFor(() => dead.length === 1, "the dead letter");
      gate.open();
      const [letter] = await bus.deadLetters();
      expect(dead).toEqual([{ id: letter!.id, traceId: "tr-hung", error: letter!.lastError }]);
      expect(letter!.lastError).toMatch(/lease expired/);
      expect(letter!.attempts).toBe(1); // the claim that found it past maxAttempts is no attempt
    });

    it("a handler that never settles is abandoned at its deadline: signal aborted, slot freed, retried, then dead-lettered with the reason", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("x", "hang"), msg("x", "x2"), msg("y", "y1")]);
      const seen: string[] = [];
      const hung: Delivery[] = [];
      consume(bus, {
        concurrency: 1,
        leaseMs: 300, // the heartbeat keeps it: without a deadline chat x, and this consumer's one slot, stay taken
        handlerTimeoutMs: 1_000,
        maxAttempts: 2,
        retryBaseMs: 1_000,
        handler: (d) => {
          seen.push(`${d.payload}#${d.attempt}`);
          if (d.payload !== "hang") return Promise.resolve();
          hung.push(d);
          return new Promise<void>(() => {}); // stuck, deaf to its signal (a call without timeout, a bug)
        },
      });
      await waitFor(() => hung.length === 1, "the stuck handler");
      clock.advance(999);
      await sleep(150);
      expect(hung[0]!.signal.aborted).toBe(false);
      clock.advance(1);
      await waitFor(() => hung[0]!.signal.aborted, "the deadline");
      expect(hung[0]!.signal.reason).toBeInstanceOf(HandlerTimeoutError);
      await waitFor(() => seen.includes("y1#1"), "another chat in the freed slot");
      expect(seen).not.toContain("x2#1"); // chat x keeps its order: its next message waits for the retry
      clock.advance(750);
      await waitFor(() => hung.length === 2, "the retry");
      clock.advance(1_000);
      await waitFor(() => seen.includes("x2#1"), "chat x's next message, after the dead letter");
      expect(await bus.deadLetters()).toEqual([
        expect.objectContaining({
          key: "x",
          payload: "hang",
          attempts: 2,
          lastError: "HandlerTimeoutError: handler gave no outcome within 1000 ms; abandoned, its signal aborted",
        }),
      ]);
      expect(seen).toEqual(["hang#1", "y1#1", "hang#2", "x2#1"]);
    });

    // The deadline once counted on the wall clock: a step back of an hour (NTP, a restored VM) held the chat an hour.
    it("a handler's deadline is not postponed by the clock stepping back", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("x", "hang")]);
      const hung: Delivery[] = [];
      consume(bus, {
        concurrency: 1,
        leaseMs: 300,
        handlerTimeoutMs: 1_000,
        handler: (d) => (hung.push(d), new Promise<void>(() => {})),
      });
      await waitFor(() => hung.length === 1, "the stuck handler");
      clock.advance(500);
      await sleep(150);
      clock.advance(-3_600_000);
      await sleep(150);
      expect(hung[0]!.signal.reason).toBe(undefined);
      clock.advance(500);
      await waitFor(() => hung[0]!.signal.aborted, "the deadline");
    });

    it("a heartbeat keeps a slow handler's lease", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("a", "slow")]);
      const gate = latch();
      const seen: Delivery[] = [];
      const handler = async (d: Delivery) => {
        seen.push(d);
        await gate.wait();
      };
      consume(bus, { concurrency: 1, leaseMs: 240, handler });
      await waitFor(() => seen.length === 1, "delivery");
      consume(bus, { concurrency: 1, leaseMs: 240, handler }); // a rival that would take an expired lease
      for (let i = 0; i < 8; i++) {
        clock.advance(60); // 480 ms of lease time in all: twice the lease
        await sleep(50);
      }
      await seen[0]!.assertLease();
      expect(seen).toHaveLength(1);
      gate.open();
      await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "ack");
      expect(seen).toHaveLength(1);
      expect(seen[0]!.signal.aborted).toBe(false);
    });

    it("retries with growing delays, then dead-letters with the last error text; other keys flow", async () => {
      const bus = await setup(() => 0.5); // equal jitter at 0.5: 0.75 × base × 2^(n-1)
      await bus.subscribe("t", "g");
      await bus.publish([msg("poison", { bad: true }), msg("poison", "after")]);
      const times: number[] = [];
      const ok: string[] = [];
      consume(bus, {
        maxAttempts: 4,
        retryBaseMs: 1_000,
        handler: (d) => {
          if (typeof d.payload === "object") {
            times.push(clock.now());
            return Promise.reject(new Error(`model refused (attempt ${d.attempt})`));
          }
          ok.push(d.payload as string);
          return Promise.resolve();
        },
      });
      const expected = [750, 1_500, 3_000];
      await waitFor(() => times.length === 1, "first attempt");
      for (const [i, delay] of expected.entries()) {
        await waitFor(async () => (await bus.stats())[0]!.delayed === 1, "retry scheduled");
        await bus.publish([msg(`other-${i}`, `other-${i}`)]);
        await waitFor(() => ok.includes(`other-${i}`), "another key flows meanwhile");
        clock.advance(delay - 1);
        await sleep(50);
        expect(times).toHaveLength(i + 1);
        clock.advance(1);
        await waitFor(() => times.length === i + 2, `attempt ${i + 2} after ${delay} ms`);
      }
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      expect(gaps).toEqual(expected);
      await waitFor(() => ok.includes("after"), "the key's next message after the dead letter");
      const [dead] = await bus.deadLetters();
      expect(dead).toMatchObject({
        topic: "t",
        group: "g",
        key: "poison",
        payload: { bad: true },
        attempts: 4,
        lastError: "Error: model refused (attempt 4)",
        deadAt: clock.now(),
      });
      // The handler returned before its ack commits (the consumer's next round): stats wait for that write.
      await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "the last ack committed");
      expect((await bus.stats())[0]).toMatchObject({ deadLetters: 1, ready: 0, inFlight: 0, delayed: 0 });
    });

    it("a PermanentError dead-letters the message on its first attempt, with its reason; the key's next flows", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("k", { bad: true }), msg("k", "next")]);
      const attempts: number[] = [];
      const ok: string[] = [];
      consume(bus, {
        maxAttempts: 5,
        handler: (d) => {
          if (typeof d.payload !== "object") return Promise.resolve(void ok.push(d.payload as string));
          attempts.push(d.attempt);
          return Promise.reject(new PermanentError("payload is malformed: text: expected string"));
        },
      });
      await waitFor(() => ok.includes("next"), "the key's next message");
      expect(attempts).toEqual([1]);
      expect(await bus.deadLetters()).toEqual([
        expect.objectContaining({ key: "k", attempts: 1, lastError: "PermanentError: payload is malformed: text: expected string" }),
      ]);
    });

    // A store locked or full for longer than the retries once dead-lettered every message in flight.
    it("an attempt that failed on the store does not count: the message is not dead-lettered during an outage", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("k", "hello")]);
      const attempts: number[] = [];
      consume(bus, {
        maxAttempts: 2,
        retryBaseMs: 0,
        handler: (d) => {
          attempts.push(d.attempt);
          if (attempts.length > 4) return Promise.resolve();
          return Promise.reject(Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" }));
        },
      });
      await waitFor(() => attempts.length === 5, "the fifth attempt");
      await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "its ack");
      expect(attempts).toEqual([1, 1, 1, 1, 1]);
      expect((await bus.stats())[0]).toMatchObject({ ready: 0, delayed: 0 });
      expect(await bus.deadLetters()).toEqual([]);
    });

    it("dead letters can be listed by topic and group, retried and purged", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.subscribe("u", "g");
      let fail = true;
      const handled: unknown[] = [];
      const handler = (d: Delivery) => {
        handled.push(d.payload);
        return fail ? Promise.reject(new Error("down")) : Promise.resolve();
      };
      consume(bus, { maxAttempts: 1, handler });
      consume(bus, { topic: "u", maxAttempts: 1, handler });
      const [a] = await bus.publish([msg("k", "a", { traceId: "tr-1" })]);
      await bus.publish([{ topic: "u", key: "k", payload: "b" }]);
      await waitFor(async () => (await bus.deadLetters()).length === 2, "two dead letters");
      expect((await bus.deadLetters({ topic: "t" })).map((d) => d.payload)).toEqual(["a"]);
      expect((await bus.deadLetters({ topic: "t" }))[0]).toMatchObject({
        id: a!.id,
        traceId: "tr-1",
        attempts: 1,
      });
      expect(await bus.deadLetters({ group: "nobody" })).toEqual([]);
      expect(await bus.deadLetters({ limit: 1 })).toHaveLength(1);

      fail = false;
      expect(await bus.retryDeadLetter(a!.id)).toBe(true);
      expect(await bus.retryDeadLetter(a!.id)).toBe(false);
      expect(await bus.retryDeadLetter(987_654, "g")).toBe(false);
      await waitFor(() => handled.filter((p) => p === "a").length === 2, "retried dead letter handled");
      await waitFor(async () => (await bus.deadLetters()).length === 1, "one dead letter left");

      expect(await bus.purgeDeadLetters({ olderThanMs: 60_000 })).toBe(0);
      clock.advance(60_001);
      expect(await bus.purgeDeadLetters({ topic: "t" })).toBe(0);
      expect(await bus.purgeDeadLetters({ olderThanMs: 60_000, topic: "u", group: "g" })).toBe(1);
      expect(await bus.deadLetters()).toEqual([]);
    });

    // A platform outage (Telegram's 502s, Graph unreachable) a few minutes long once dead-lettered every reply in flight.
    it("a RetryLaterError marked uncounted does not count, and its retry comes not before its retryAt", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("k", "hello")]);
      const attempts: [number, number][] = [];
      consume(bus, {
        maxAttempts: 2,
        retryBaseMs: 0,
        handler: (d) => {
          attempts.push([d.attempt, clock.now()]);
          if (attempts.length > 3) return Promise.resolve();
          return Promise.reject(new RetryLaterError("502: Bad Gateway", { retryAt: clock.now() + 10_000, uncounted: true }));
        },
      });
      for (let i = 1; i <= 3; i++) {
        await waitFor(async () => (await bus.stats())[0]!.delayed === 1, `retry ${i} scheduled`);
        clock.advance(9_999);
        await sleep(40);
        expect(attempts).toHaveLength(i);
        clock.advance(1);
        await waitFor(() => attempts.length === i + 1, `attempt ${i + 1}`);
      }
      await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "its ack");
      expect(attempts.map(([a]) => a)).toEqual([1, 1, 1, 1]);
      expect(await bus.deadLetters()).toEqual([]);
    });

    it("a delivery handed back until later (NotYetError) keeps its chat's next message behind it, uses no attempt and never dies", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("chat", "first"), msg("chat", "second"), msg("other", "o")]);
      const seen: [unknown, number][] = [];
      let later = 0;
      consume(bus, {
        maxAttempts: 1,
        handler: (d) => {
          seen.push([d.payload, d.attempt]);
          if (d.payload === "first" && later++ < 3) {
            return Promise.reject(new NotYetError("its chat's next send slot is later", clock.now() + 5_000));
          }
          return Promise.resolve();
        },
      });
      for (let i = 1; i <= 3; i++) {
        await waitFor(async () => (await bus.stats())[0]!.delayed === 1 && later === i, `hand-back ${i}`);
        await sleep(40);
        expect(seen.filter(([p]) => p === "second")).toEqual([]); // never before the one handed back
        clock.advance(5_000);
      }
      await waitFor(async () => (await bus.stats())[0]!.inFlight + (await bus.stats())[0]!.ready === 0, "all acked");
      expect(seen.filter(([p]) => p !== "o")).toEqual([["first", 1], ["first", 1], ["first", 1], ["first", 1], ["second", 1]]);
      expect(seen).toContainEqual(["o", 1]); // the other chat was not held up
      expect(await bus.deadLetters()).toEqual([]);
    });

    it("a leaseMs that is not a whole number of ms leases and heartbeats as well as a whole one", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("a", 1)]);
      const seen: number[] = [];
      consume(bus, {
        leaseMs: 1_500.5,
        handler: async (d) => {
          await d.extendLease();
          seen.push(d.attempt);
        },
      });
      await waitFor(() => seen.length === 1, "the delivery");
      await waitFor(async () => (await bus.stats())[0]!.inFlight === 0, "the ack");
      expect(seen).toEqual([1]);
    });

    it("delivers a delayed message not before its time", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      const seen: number[] = [];
      consume(bus, { handler: into(seen, () => clock.now()) });
      const at = clock.now() + 5_000;
      await bus.publish([msg("a", "later", { notBefore: at })]);
      await sleep(60);
      expect(seen).toEqual([]);
      expect((await bus.stats())[0]).toMatchObject({ delayed: 1, ready: 0 });
      clock.advance(4_999);
      await sleep(40);
      expect(seen).toEqual([]);
      clock.advance(1);
      await waitFor(() => seen.length === 1, "the delayed message");
      expect(seen[0]).toBeGreaterThanOrEqual(at);
    });

    it("stop() waits for running handlers, and releases the leases of those that outlive the timeout", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("quick", "q"), msg("stuck", "s")]);
      const started: Delivery[] = [];
      const c = bus.consume({
        topic: "t",
        group: "g",
        handler: async (d) => {
          started.push(d);
          if (d.payload === "q") return await sleep(30);
          await new Promise((resolve) => d.signal.addEventListener("abort", resolve));
        },
      });
      await waitFor(() => started.length === 2, "both handlers");
      await c.stop(150);
      expect(started.find((d) => d.payload === "s")!.signal.aborted).toBe(true);
      expect((await bus.stats())[0]).toMatchObject({ ready: 1, inFlight: 0 });
      const next: Delivery[] = [];
      consume(bus, { handler: into(next, (d) => d) });
      await waitFor(() => next.length === 1, "the released message");
      expect(next[0]).toMatchObject({ payload: "s", attempt: 1 }); // a release is not a failed attempt
      expect(next[0]!.fence).toBeGreaterThan(started.find((d) => d.payload === "s")!.fence);
      await sleep(40);
      expect(next).toHaveLength(1); // "q" was acked before stop() returned
    });

    it("a handler that fails while stop() waits (its wait aborted by the stop) is given back, its attempt not counted", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("waiting", "w")]);
      const stopping = new AbortController();
      const started: Delivery[] = [];
      const c = consume(bus, {
        handler: async (d) => {
          started.push(d);
          await new Promise((_, reject) => stopping.signal.addEventListener("abort", () => reject(stopping.signal.reason)));
        },
      });
      await waitFor(() => started.length === 1, "the handler");
      stopping.abort(new Error("agent stopping"));
      await c.stop(1_000);
      expect((await bus.stats())[0]).toMatchObject({ ready: 1, inFlight: 0, delayed: 0 });
      const next: Delivery[] = [];
      consume(bus, { handler: into(next, (d) => d) });
      await waitFor(() => next.length === 1, "the message given back");
      expect(next[0]).toMatchObject({ payload: "w", attempt: 1 });
    });

    // A reply waiting out Telegram's retry_after was given back at once: the next process sent it into the flood wait.
    it("a handler stopped during a wait it names with RetryLaterError.retryAt is given back for that time, uncounted", async () => {
      const bus = await setup();
      await bus.subscribe("t", "g");
      await bus.publish([msg("held", "h")]);
      const stopping = new AbortController();
      const started: Delivery[] = [];
      const retryAt = clock.now() + 12_000;
      const c = consume(bus, {
        handler: async (d) => {
          started.push(d);
          await new Promise((_, reject) => stopping.signal.addEventListener("abort", () => reject(stopping.signal.reason)));
        },
      });
      await waitFor(() => started.length === 1, "the handler");
      // What egress throws when the stop cuts short its wait for the platform's back-off.
      stopping.abort(new RetryLaterError("the agent stopped during the platform's back-off", { retryAt }));
      await c.stop(1_000);
      expect((await bus.stats())[0]).toMatchObject({ ready: 0, inFlight: 0, delayed: 1 });
      const next: Delivery[] = [];
      consume(bus, { handler: into(next, (d) => d) });
      clock.advance(11_999);
      await sleep(60);
      expect(next).toEqual([]);
      clock.advance(1);
      await waitFor(() => next.length === 1, "the message at its retryAt");
      expect(next[0]).toMatchObject({ payload: "h", attempt: 1 });
    });

    it("stats() reports ready, in-flight, delayed, oldest age and dead letters per topic and group", async () => {
      const bus = await setup();
      expect(await bus.stats()).toEqual([]);
      await bus.subscribe("t", "g");
      await bus.subscribe("t", "h");
      const t0 = clock.now();
      await bus.publish([msg("a", 1), msg("b", 2), msg("c", 3, { notBefore: t0 + 60_000 })]);
      clock.advance(2_500);
      const gate = latch();
      const seen: unknown[] = [];
      consume(bus, {
        group: "h",
        concurrency: 1,
        handler: async (d) => {
          seen.push(d.payload);
          await gate.wait();
        },
      });
      await waitFor(() => seen.length === 1, "one in flight");
      const stats = await bus.stats();
      expect(stats).toEqual([
        { topic: "t", group: "g", ready: 2, inFlight: 0, delayed: 1, oldestAgeMs: 2_500, deadLetters: 0 },
        { topic: "t", group: "h", ready: 1, inFlight: 1, delayed: 1, oldestAgeMs: 2_500, deadLetters: 0 },
      ]);
      gate.open();
    });
  });
}
