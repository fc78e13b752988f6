// The HTTP metrics' labels are bounded whatever clients send: a series per made-up method would use up the
// registry's label sets, and a first 413 or 5xx on a real route would then go uncounted (a red-team finding).
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { httpMetrics } from "../../src/metrics/http.ts";
import { createMetrics } from "../../src/metrics/registry.ts";

describe("HTTP metrics", () => {
  it("made-up methods count as `other`; a 413 on a real route is still counted after 600 of them", async () => {
    const metrics = createMetrics();
    const app = new Hono();
    app.use("*", httpMetrics(metrics));
    app.post("/api/messages", (c) => c.json({ error: "message too large" }, 413));
    for (let i = 0; i < 600; i++) await app.request("/x", { method: `JUNK${i}` });
    await app.request("/api/messages", { method: "POST", body: "{}" });
    const lines = metrics.render().split("\n").filter((l) => l.startsWith("aideazz_http_requests_total{"));
    expect(lines).toEqual([
      'aideazz_http_requests_total{method="other",route="unmatched",status="404"} 600',
      'aideazz_http_requests_total{method="POST",route="/api/messages",status="413"} 1',
    ]);
  });
});
