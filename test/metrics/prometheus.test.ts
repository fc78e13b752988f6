// /metrics in the Prometheus text format, checked with a strict parser written from the exposition spec.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentDefinition, runAgent } from "../../src/agents/mod.ts";
import { analytics } from "../../src/agents/analytics.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics, M, type Metrics } from "../../src/metrics/mod.ts";
import { serve } from "../../src/platform.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { parsePrometheusText } from "./support/prom-parser.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-prom-")));
afterAll(() => cleanup());

function filled(): Metrics {
  const m = createMetrics();
  m.inc(M.messagesIn, { channel: "telegram" }, 3);
  m.inc(M.messagesIn, { channel: "whatsapp" });
  m.set(M.busDepth, 7, { topic: "inbound", group: "orchestrator", state: "ready" });
  for (const v of [3, 40, 40, 700, 1_200, 90_000]) m.observe(M.replyLatency, v, { channel: "telegram" });
  m.inc(M.sendErrors, { platform: "telegram", code: 'a "quoted"\\ value\nwith newline' });
  return m;
}

describe("Prometheus text format", () => {
  it("parses strictly: HELP and TYPE once per metric, histograms cumulative with +Inf equal to _count", () => {
    const families = parsePrometheusText(filled().render());
    expect(families.get(M.messagesIn)).toMatchObject({
      type: "counter",
      help: "Inbound chat messages stored and acknowledged",
      samples: [
        { name: M.messagesIn, labels: { channel: "telegram" }, value: 3 },
        { name: M.messagesIn, labels: { channel: "whatsapp" }, value: 1 },
      ],
    });
    expect(families.get(M.busDepth)?.samples).toEqual([
      { name: M.busDepth, labels: { group: "orchestrator", state: "ready", topic: "inbound" }, value: 7 },
    ]);
    const hist = families.get(M.replyLatency)!;
    expect(hist.type).toBe("histogram");
    const bucket = (le: string) =>
      hist.samples.find((s) => s.name.endsWith("_bucket") && s.labels["le"] === le)?.value;
    expect([bucket("5"), bucket("50"), bucket("1000"), bucket("2500"), bucket("60000"), bucket("+Inf")])
      .toEqual([1, 3, 4, 5, 5, 6]);
    expect(hist.samples.find((s) => s.name.endsWith("_sum"))?.value).toBe(3 + 40 + 40 + 700 + 1_200 + 90_000);
    expect(hist.samples.find((s) => s.name.endsWith("_count"))?.value).toBe(6);
  });

  it("escapes label values so they round-trip (quote, backslash, newline)", () => {
    const families = parsePrometheusText(filled().render());
    expect(families.get(M.sendErrors)?.samples[0]?.labels).toEqual({
      platform: "telegram",
      code: 'a "quoted"\\ value\nwith newline',
    });
  });

  it("the parser itself rejects what the spec forbids", () => {
    expect(() => parsePrometheusText("a 1")).toThrow(/newline/);
    expect(() => parsePrometheusText('a{b="\\x"} 1\n')).toThrow(/escape/);
    expect(() => parsePrometheusText("# TYPE a counter\na 1\nb 2\na 3\n")).toThrow(/contiguous|duplicate/);
    expect(() =>
      parsePrometheusText(
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      )
    )
      .toThrow(/cumulative/);
    expect(() => parsePrometheusText("a one\n")).toThrow(/invalid value/);
  });

  it("an empty registry renders an empty exposition", () => {
    expect(createMetrics().render()).toBe("");
    expect(parsePrometheusText("").size).toBe(0);
  });

  it("GET /metrics of a running agent parses and reports RSS, uptime, starts and its own HTTP requests", async () => {
    const port = await freePort();
    const config = loadConfig(
      JSON.stringify({ agents: [{ name: "analytics", kind: "analytics", port }] }),
      {},
    );
    let lines = "";
    const running = await runAgent({
      agent: config.agents[0]!,
      // The runtime takes any kind; the registry pairs each kind with its own config type.
      definition: analytics as unknown as AgentDefinition,
      config,
      dbUrl: `file:${join(dir, "agent.db")}`,
      secrets: {},
      log: createLogger({ agent: "analytics", secrets: [], write: (l) => (lines += l) }),
      version: "test",
      now: Date.now,
      fetch,
      serve,
      rssBytes: () => 123_456_789,
      pid: 4242,
    });
    try {
      await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.text());
      await fetch(`http://127.0.0.1:${port}/nope`).then((r) => r.text());
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const families = parsePrometheusText(await res.text());
      expect(families.get(M.rss)?.samples[0]?.value).toBe(123_456_789);
      expect(families.get(M.uptime)?.type).toBe("gauge");
      expect(families.get(M.agentStarts)?.samples[0]?.value).toBe(1);
      const requests = families.get(M.httpRequests)!.samples.map((s) => s.labels);
      expect(requests).toEqual(expect.arrayContaining([
        { method: "GET", route: "/health", status: "200" },
        { method: "GET", route: "unmatched", status: "404" },
      ]));
      expect(families.get(M.httpDuration)?.type).toBe("histogram");
    } finally {
      await running.stop();
    }
  });
});
