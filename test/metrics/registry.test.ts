import { describe, expect, it } from "vitest";
import { CATALOGUE, createMetrics, M, MetricError, METRICS } from "../../src/metrics/mod.ts";

describe("metrics registry", () => {
  it("counts, sets and observes per label set; snapshot groups series by metric", () => {
    const m = createMetrics();
    m.inc(M.messagesIn, { channel: "telegram" });
    m.inc(M.messagesIn, { channel: "telegram" }, 2);
    m.set(M.rss, 10);
    m.set(M.rss, 20);
    m.observe(M.ackLatency, 3, { channel: "webchat" });
    m.observe(M.ackLatency, 70_000, { channel: "webchat" });
    const snap = m.snapshot();
    expect(snap.map((s) => [s.name, s.key, s.value])).toEqual([
      [M.messagesIn, '{"channel":"telegram"}', 3],
      [M.rss, "{}", 20],
      [M.ackLatency, '{"channel":"webchat"}', 2],
    ]);
    const hist = snap[2]!;
    expect(hist.sum).toBe(70_003);
    expect(hist.buckets?.length).toBe(16);
    expect(hist.buckets?.[2]).toBe(1); // 3 ms falls in (2, 5]
    expect(hist.buckets?.[15]).toBe(1); // 70 s in +Inf
  });

  it("label order does not make a new series", () => {
    const m = createMetrics();
    m.inc(M.sendErrors, { platform: "telegram", code: "429" });
    m.inc(M.sendErrors, { code: "429", platform: "telegram" });
    expect(m.snapshot()).toHaveLength(1);
    expect(m.snapshot()[0]?.value).toBe(2);
  });

  it("a catalogued metric used with the wrong type or labels throws MetricError naming it", () => {
    const m = createMetrics();
    expect(() => m.set(M.messagesIn, 1, { channel: "telegram" })).toThrow(MetricError);
    expect(() => m.inc(M.messagesIn, { chanel: "telegram" })).toThrow(
      /takes labels \[channel\], got \[chanel\]/,
    );
    expect(() => m.inc(M.messagesIn, {})).toThrow(/aideazz_messages_in_total/);
    expect(() => m.inc(M.messagesIn, { channel: "x" }, -1)).toThrow(/only goes up/);
    expect(() => m.observe(M.replyLatency, NaN, { channel: "x" })).toThrow(/cannot observe/);
  });

  it("an unknown name is created on first use and keeps its type", () => {
    const m = createMetrics();
    m.inc("my_things_total", { kind: "a" });
    expect(() => m.observe("my_things_total", 1)).toThrow(/is a counter, not a histogram/);
    expect(m.spec("my_things_total")).toMatchObject({ type: "counter" });
    // Its labels are checked as a declared metric's: Prometheus rejects a scrape with a reserved name or a second `le`.
    expect(() => m.inc("my_other_total", { __name__: "x" })).toThrow(MetricError);
    expect(() => m.observe("my_duration_ms", 3, { le: "5" })).toThrow(/cannot use label "le"/);
    expect(m.render()).not.toMatch(/__name__|le="5"/);
  });

  it("describe() declares bounds and help; buckets of a histogram in use cannot change", () => {
    const m = createMetrics();
    m.describe({ name: "x_ms", type: "histogram", help: "x latency", bounds: [10, 100] });
    m.observe("x_ms", 50);
    expect(m.snapshot()[0]?.buckets).toEqual([0, 1, 0]);
    expect(() => m.describe({ name: "x_ms", type: "histogram", help: "x", bounds: [1] })).toThrow(
      /cannot change/,
    );
    expect(() => m.describe({ name: "bad-name", type: "gauge", help: "" })).toThrow(/invalid metric name/);
    expect(() => m.describe({ name: "y", type: "histogram", help: "", bounds: [2, 1] })).toThrow(/ascending/);
    expect(() =>
      m.describe({ name: "z", type: "histogram", help: "", bounds: Array.from({ length: 21 }, (_, i) => i) })
    )
      .toThrow(/at most 20/);
  });

  it("caps label sets per metric and counts what it dropped", () => {
    const m = createMetrics({ maxSeriesPerMetric: 3 });
    for (let i = 0; i < 5; i++) m.inc("chats_total", { chat: String(i) });
    const snap = m.snapshot();
    expect(snap.filter((s) => s.name === "chats_total")).toHaveLength(3);
    expect(snap.find((s) => s.name === M.seriesDropped)).toMatchObject({
      labels: { metric: "chats_total" },
      value: 2,
    });
  });

  it("the catalogue is valid: unique Prometheus names, units in names, counters end in _total", () => {
    const names = CATALOGUE.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const s of CATALOGUE) {
      expect(s.name).toMatch(/^aideazz_[a-z0-9_]+$/);
      expect(s.help.length).toBeGreaterThan(10);
      if (s.type === "counter") expect(s.name).toMatch(/_total$/);
      if (s.type === "histogram") expect(s.name).toMatch(/_ms$/);
    }
    // Every catalogued metric can be used with its declared labels.
    const m = createMetrics();
    for (const s of Object.values(METRICS)) {
      const labels = Object.fromEntries((s.labels ?? []).map((l) => [l, "x"]));
      if (s.type === "counter") m.inc(s.name, labels);
      else if (s.type === "gauge") m.set(s.name, 1, labels);
      else m.observe(s.name, 1, labels);
    }
    expect(m.snapshot()).toHaveLength(CATALOGUE.length);
  });
});
