// The analytics agent: its heartbeat check, the dashboard's JSON, the login, and the refusal to start exposed.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertSafeBinding } from "../../src/agents/dashboard/auth.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { M } from "../../src/metrics/mod.ts";
import { openStore } from "../../src/store/mod.ts";
import { shortTraceId } from "../../src/trace/mod.ts";
import { parsePrometheusText } from "../metrics/support/prom-parser.ts";
import { type SeedResult, seedStore } from "../metrics/support/seed.ts";
import { startAnalytics } from "../dashboard/support.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let url: string;
let seed: SeedResult;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-analytics-"));
  url = `file:${join(dir, "a.db")}`;
  seed = await seedStore(url, Date.now(), 20);
});
afterAll(() => cleanup());

describe("analytics agent", () => {
  it("/api/dashboard reports the seeded traffic, cache, spend, agents and traces", async () => {
    const a = await startAnalytics(url);
    try {
      const res = await fetch(`${a.base}/api/dashboard?window=1h`);
      expect(res.status).toBe(200);
      const d = await res.json();
      expect(d.kpis.messagesIn).toBe(seed.messagesIn);
      expect(d.kpis.messagesOut).toBe(seed.messagesOut);
      expect(d.kpis.cacheHitRate).toBeCloseTo(seed.cacheHits / seed.cacheLookups, 10);
      expect(d.kpis.starts).toMatchObject({ "telegram-support": 2, orchestrator: 1 });
      expect(d.costPerDay).toHaveLength(14);
      expect(d.costPerDay[9].usd).toBeCloseTo(3.6, 6); // the day over the $3 budget
      expect(d.dailyBudgetUsd).toBe(3);
      expect(d.agents.map((x: { name: string }) => x.name)).toEqual([
        "analytics",
        "orchestrator",
        "telegram-support",
      ]);
      expect(d.traces.map((t: { traceId: string }) => t.traceId)).toEqual([...seed.traceIds].reverse());
      expect(d.quota[0]).toMatchObject({ label: "claude/claude-haiku tpm" });
    } finally {
      await a.running.stop();
    }
  });

  it("/health's agents check names the configured agents without a fresh heartbeat", async () => {
    const a = await startAnalytics(url);
    try {
      const body = await (await fetch(`${a.base}/health`)).json();
      // The seeded agents were seen 2 s ago; the analytics agent's own row is fresh from its start.
      expect(body.checks.agents).toEqual({ ok: true, detail: "all agents seen" });
    } finally {
      await a.running.stop();
    }
  });

  it("with a login, the dashboard answers 401 without credentials and 200 with them; /health stays open", async () => {
    const a = await startAnalytics(url, { login: { user: "owner", password: "s3cret-pass" } });
    try {
      const anon = await fetch(`${a.base}/`);
      expect(anon.status).toBe(401);
      expect(anon.headers.get("www-authenticate")).toContain("Basic");
      expect((await fetch(`${a.base}/api/dashboard`)).status).toBe(401);
      expect((await fetch(`${a.base}/traces/${seed.traceIds[0]}`)).status).toBe(401);
      const auth = { authorization: `Basic ${Buffer.from("owner:s3cret-pass").toString("base64")}` };
      const wrong = { authorization: `Basic ${Buffer.from("owner:nope").toString("base64")}` };
      expect((await fetch(`${a.base}/`, { headers: wrong })).status).toBe(401);
      const ok = await fetch(`${a.base}/`, { headers: auth });
      expect(ok.status).toBe(200);
      const page = await ok.text();
      expect(page).not.toContain("loopback-notice");
      expect(page).not.toContain("s3cret-pass");
      expect((await fetch(`${a.base}/health`)).status).toBe(200);
    } finally {
      await a.running.stop();
    }
  });

  it("without a login it serves loopback only and says so on the page", async () => {
    const a = await startAnalytics(url);
    try {
      const page = await (await fetch(`${a.base}/`)).text();
      expect(page).toContain('id="loopback-notice"');
      expect(page).toContain("served on the loopback address only");
      expect(a.logs()).toContain("dashboard has no login; served on loopback only");
    } finally {
      await a.running.stop();
    }
  });

  it("refuses to start bound to a non-loopback address without a login", async () => {
    // The config refuses it first, so `config check` says so too (it once said ok).
    await expect(startAnalytics(url, { host: "0.0.0.0" })).rejects.toThrow(
      /agents\[2\]\.host: it binds 0\.0\.0\.0, which other machines can reach, and the dashboard has no login/,
    );
    expect(() => assertSafeBinding("analytics", "0.0.0.0", undefined)).toThrow(
      /Cannot start agent "analytics": it binds 0\.0\.0\.0, which other machines can reach, and the dashboard has no login/,
    );
  });

  it("a trace page shows the timeline; an unknown or malformed id is a 404", async () => {
    const a = await startAnalytics(url);
    try {
      const res = await fetch(`${a.base}/traces/${shortTraceId(seed.traceIds[1]!)}`); // the short form the dashboard shows
      expect(res.status).toBe(200);
      const page = await res.text();
      expect(page).toContain(seed.traceIds[1]);
      expect(page).toMatch(/orchestrator<\/td>\s*<td>provider<\/td>\s*<td>640 ms/);
      expect((await fetch(`${a.base}/traces/ffffffffff`)).status).toBe(404);
      // The seeded traces began in the same millisecond: the start of an id names all of them, so none.
      expect((await fetch(`${a.base}/traces/${seed.traceIds[1]!.slice(0, 12)}`)).status).toBe(404);
      expect((await fetch(`${a.base}/traces/%3Cscript%3E`)).status).toBe(404);
    } finally {
      await a.running.stop();
    }
  });

  it("reports the bus of the whole system: depth per group and state, oldest age, dead letters", async () => {
    const store = await openStore({ url });
    const bus = createSqliteBus(store);
    await bus.subscribe("inbound", "orchestrator");
    await bus.publish([1, 2, 3].map((n) => ({ topic: "inbound", key: `tg:${n}`, payload: { n } })));
    await bus.close();
    store.close();
    const a = await startAnalytics(url);
    try {
      const families = parsePrometheusText(await (await fetch(`${a.base}/metrics`)).text());
      const depth = families.get(M.busDepth)!.samples.filter((x) => x.labels["group"] === "orchestrator");
      expect(depth.map((x) => [x.labels["state"], x.value])).toEqual([["ready", 3], ["in_flight", 0], [
        "delayed",
        0,
      ]]);
      expect(families.get(M.busDeadLetters)?.samples[0]?.value).toBe(0);
      expect(families.get(M.busOldestAge)?.samples[0]?.value).toBeGreaterThanOrEqual(0);
    } finally {
      await a.running.stop();
    }
  });
});
