// What the system bench makes of its steps (bench/system/summary.ts), on constructed load results and steps: a
// webhook never answered is an error, and a step with unanswered, unsent or unreplied requests is never the
// headline, whatever its ack latency; the classic comparison is FAQ against FAQ; a dead agent keeps its memory.
import { describe, expect, it } from "vitest";
import type { LoadResult, TargetResult } from "../../bench/system/load.ts";
import type { Dist } from "../../bench/system/measure.ts";
import {
  ackStats,
  classicReplyRatio,
  headlineStep,
  loadedRss,
  meetsAckTarget,
  type StepResult,
} from "../../bench/system/summary.ts";

const d = (p50: number, p99 = p50): Dist => ({ n: 100, p50, p99, max: p99 });

function target(over: Partial<TargetResult>): TargetResult {
  return { name: "tg1", planned: 0, sends: [], lateMs: [], ackMs: [], statuses: {}, errors: 0, timeouts: 0, ...over };
}

const load = (...targets: TargetResult[]): LoadResult => ({ startedAt: 0, endedAt: 1, cpuS: 0, targets });

/** `n` sends of chats 1..n. */
const sends = (n: number): [number, number, number][] => Array.from({ length: n }, (_, i) => [i + 1, 0, i]);

/** A step that met the ack target with every request answered and replied to. */
function step(over: Partial<StepResult> = {}): StepResult {
  return {
    agents: 6,
    workload: "hits",
    offered_per_s: 10,
    seconds: 10,
    sent: 100,
    unsent: 0,
    late_ms: d(0),
    ack_2xx: 100,
    errors: 0,
    unanswered: 0,
    socket_errors: 0,
    timeouts: 0,
    missing_replies: 0,
    ack_ms: d(4, 10),
    reply_ms: { all: d(8), faq: d(7), cache: d(9) },
    replies_per_s: 10,
    drain_s: 0,
    answered_by: {},
    cpu_pct: {},
    cpu_ms_per_reply: {},
    rss_peak_mb: {},
    write_lock: {},
    ...over,
  };
}

describe("ackStats", () => {
  it("counts a sent webhook with no answer at all as an error, outside the ack latencies", () => {
    // tg2 hung: 3 requests sent on its 3 connections, none answered.
    const r = ackStats(load(
      target({ sends: sends(10), ackMs: Array(10).fill(3), statuses: { "200": 10 } }),
      target({ name: "tg2", sends: sends(3) }),
    ));
    expect(r).toMatchObject({ ok: 10, errors: 3, unanswered: 3, socket_errors: 0, timeouts: 0 });
    expect(r.acks).toHaveLength(10);
  });

  it("counts a non-2xx answer as an error but not as unanswered", () => {
    const r = ackStats(load(target({ sends: sends(5), ackMs: Array(5).fill(3), statuses: { "200": 3, "503": 2 } })));
    expect(r).toMatchObject({ ok: 3, errors: 2, unanswered: 0 });
  });

  it("reports wrk's socket errors and timeouts apart, without counting a dropped request twice", () => {
    // The connection dropped under request 4: wrk counts a read error, and the request has no answer.
    const r = ackStats(load(target({ sends: sends(4), ackMs: [3, 3, 3], statuses: { "200": 3 }, errors: 1, timeouts: 2 })));
    expect(r).toMatchObject({ ok: 3, errors: 1, unanswered: 1, socket_errors: 1, timeouts: 2 });
  });
});

describe("the headline step", () => {
  it("is the highest step that met the ack target with every request sent, acknowledged and replied to", () => {
    const hits = [step({ offered_per_s: 10 }), step({ offered_per_s: 20 }), step({ offered_per_s: 40, ack_ms: d(20, 60) })];
    const { head, meeting } = headlineStep(hits);
    expect(head.offered_per_s).toBe(20);
    expect(meeting.map((s) => s.offered_per_s)).toEqual([10, 20]);
  });

  it.each([
    ["webhooks never answered", { errors: 3, unanswered: 3 }],
    ["a non-2xx answer", { errors: 1, ack_2xx: 99 }],
    ["requests never sent", { unsent: 57 }],
    ["replies that never came (orchestrator dead)", { missing_replies: 100, replies_per_s: 0, reply_ms: { all: d(NaN) } }],
  ])("is never a step with %s, however fast its acks", (_, over) => {
    const bad = step({ offered_per_s: 40, ...over });
    expect(meetsAckTarget(bad)).toBe(false);
    expect(headlineStep([step({ offered_per_s: 20 }), bad]).head.offered_per_s).toBe(20);
  });

  it("is the first step when none met the target (and a step with no acks at all does not meet it)", () => {
    const none = step({ offered_per_s: 10, ack_ms: { n: 0, p50: NaN, p99: NaN, max: NaN } });
    expect(meetsAckTarget(none)).toBe(false);
    const { head, meeting } = headlineStep([none, step({ offered_per_s: 20, ack_ms: d(30, 80) })]);
    expect(head.offered_per_s).toBe(10);
    expect(meeting).toEqual([]);
  });
});

describe("classicReplyRatio", () => {
  it("divides the classic FAQ reply p50 by ours for FAQ answers, not by ours over FAQ and cache", () => {
    const classic = step({ reply_ms: { all: d(2654.7), faq: d(2654.7) } });
    const ours = step({ reply_ms: { all: d(11.7), faq: d(11.2), cache: d(12.1) } });
    expect(classicReplyRatio(classic, ours)).toBe(Math.round(2654.7 / 11.2));
  });

  it("is NaN without a classic step at the same load or without FAQ answers", () => {
    expect(classicReplyRatio(undefined, step())).toBeNaN();
    expect(classicReplyRatio(step(), step({ reply_ms: { all: d(9), cache: d(9) } }))).toBeNaN();
  });
});

describe("loadedRss", () => {
  it("keeps an agent that died during the steps, with the most the sampler saw of it", () => {
    const steps = [
      step({ rss_peak_mb: { tg1: 90, orchestrator: 100 } }),
      step({ rss_peak_mb: { tg1: 95 } }), // the orchestrator was dead by then
    ];
    const end = { tg1: { hwm_mb: 96 } };
    const highest = new Map([["tg1", 97], ["orchestrator", 104]]);
    expect(loadedRss(steps, end, highest)).toEqual({
      tg1: { peak_rss: 95, hwm: 97 },
      orchestrator: { peak_rss: 100, hwm: 104, exited: true },
    });
  });
});
