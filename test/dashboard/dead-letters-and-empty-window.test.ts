// A message dead-lettered once is counted once in every view (KPI, errors card, stats, answer rate), and a window
// with no traffic shows no NaN, Infinity or a "100%" made of 0/0 on the page, the JSON or `aideazz stats`.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startAnalytics } from "./support.ts";
import { type Harness, startHarness } from "../orchestrator/harness.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("operator views: dead letters and an empty window", () => {
  it("one dead-lettered message: errors card, KPI, stats and answer rate count it once", async () => {
    h = await startHarness({ conversation: { maxAttempts: 2, retryBaseMs: 50 } });
    h.groq.setDefault({ kind: "server_error" });
    await h.ask("c1", "A question only a model could answer about quantum gardening");
    const end = Date.now() + 15_000;
    while ((await h.bus.deadLetters()).length === 0) {
      if (Date.now() > end) throw new Error("not dead-lettered");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await h.bus.deadLetters()).length).toBe(1);
    await h.agent.flush();
    const url = h.agent.store.path ? `file:${h.agent.store.path}` : "";
    const a = await startAnalytics(url);
    try {
      await a.running.flush();
      const d = await (await fetch(`${a.base}/api/dashboard?window=15m`)).json();
      expect(d.kpis.deadLetters).toBe(1);
      expect(d.kpis.answerRate).toBe(0);
      const rows = Object.fromEntries(d.errors.map((e: { label: string; count: number }) => [e.label, e.count]));
      expect(rows["dead-lettered (inbound)"]).toBe(1);
      expect(rows["dead letters (now)"]).toBe(1);
      const stats = await cli(["stats", "--db", url, "--since", "15m"]);
      expect(stats.stdout).toContain("dead letters 1");
      expect(stats.stdout).toContain("answered 0%");
    } finally {
      await a.running.stop();
    }
  }, 40_000);

  it("a window with no traffic: no NaN, Infinity or 0/0 percentages on the page, the JSON or stats", async () => {
    const { dir, cleanup } = await tempDir("aideazz-empty-window-");
    const url = `file:${join(dir, "e.db")}`;
    const a = await startAnalytics(url);
    try {
      await a.running.flush();
      for (const w of ["15m", "1h", "24h", "7d"]) {
        const page = await (await fetch(`${a.base}/?window=${w}`)).text();
        const api = await (await fetch(`${a.base}/api/dashboard?window=${w}`)).text();
        const body = page.slice(page.indexOf("</style>")); // the inline CSS has widths of 100%
        expect(body).not.toMatch(/NaN|Infinity|100%/);
        expect(api).not.toMatch(/NaN|Infinity/);
        const d = JSON.parse(api);
        expect(d.kpis.answerRate).toBeUndefined();
        expect(d.kpis.cacheHitRate).toBeUndefined();
        const r = await cli(["stats", "--db", url, "--since", w]);
        expect(r.code).toBe(0);
        expect(r.stdout).not.toMatch(/NaN|Infinity|100%/);
      }
    } finally {
      await a.running.stop();
      await cleanup();
    }
  }, 30_000);
});
