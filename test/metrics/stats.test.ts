// `aideazz stats` over a seeded store: the terminal table with sparklines, --json, --agent, and clear errors.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatCount } from "../../src/metrics/mod.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";
import { type SeedResult, seedStore } from "./support/seed.ts";

let dir: string;
let cleanup: () => Promise<void>;
let url: string;
let seed: SeedResult;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-stats-"));
  url = `file:${join(dir, "stats.db")}`;
  seed = await seedStore(url, Date.now(), 30);
});
afterAll(() => cleanup());

describe("aideazz stats", () => {
  it("prints agents, a summary and one line per series with sparklines", async () => {
    const r = await cli(["stats", "--db", url, "--since", "1h"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^aideazz stats · file:.*stats\.db · last 1h · 10 s resolution · /);
    expect(out).toMatch(
      /AGENTS\n\s+agent\s+status\s+pid\s+version\s+up\s+last seen\s+memory\s+starts\s+memory trend\n/,
    );
    expect(out).toMatch(
      /\n\s+orchestrator\s+up\s+2102\s+0\.1\.0\s+3h(?: 0m)?\s+[\d.]+ s ago\s+[\d.]+ MiB\s+1\s+[▁▂▃▄▅▆▇█ ]+\n/,
    );
    expect(out).toMatch(/\n\s+telegram-support\s+up\s+2101 .* 2\s+[▁▂▃▄▅▆▇█ ]+\n/); // restarted once in the window
    expect(out).toContain(
      `messages in ${formatCount(seed.messagesIn)} · out ${formatCount(seed.messagesOut)}`,
    );
    expect(out).toMatch(/reply p50 \d+ ms · p90 \d(\.\d)? s · p99 \d(\.\d)? s/);
    expect(out).toContain(`cache hit rate ${Math.round((seed.cacheHits / seed.cacheLookups) * 100)}%`);
    expect(seed.failed).toBe(1);
    expect(out).toContain(`answered ${Math.floor((1 - seed.failed / seed.decisions) * 1000) / 10}%`);
    expect(out).toMatch(/providers cache \d+%, groq \d+%, claude \d+%, local \d(\.\d)?%/);
    const lock = out.match(/write lock held (\d+(?:\.\d)?)% of the time · wait p99 (\d(?:\.\d+)?) ms/);
    expect(Number(lock?.[1])).toBeCloseTo((seed.lockHeldMs / 3_600_000) * 100, 0); // the seed's holds over 1 h
    expect(Number(lock?.[2])).toBeLessThanOrEqual(5); // waits were 0–5 ms
    expect(out).toMatch(
      /\n\s+messages_in_total\s+telegram-support\s+channel=telegram\s+\d+\s+[\d.]+\s+[▁▂▃▄▅▆▇█]{24}\n/,
    );
    expect(out).toMatch(
      /\n\s+reply_latency_ms\s+telegram-support\s+channel=telegram\s+\d+\s+\d+ ms\s+\d(\.\d)? s\s+\d(\.\d)? s\s+[▁▂▃▄▅▆▇█ ]{24}\n/,
    );
    expect(out).toMatch(
      /\n\s+quota_headroom_ratio\s+orchestrator\s+model=claude-haiku provider=claude window=tpm\s+\d+(\.\d)?%\s+\d+(\.\d)?%–\d+%/,
    );
    // No line is wider than a wide SSH terminal.
    expect(Math.max(...out.split("\n").map((l) => [...l].length))).toBeLessThan(200);
  });

  it("--json gives the same report as data", async () => {
    const r = await cli(["stats", "--db", url, "--since", "2h", "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.kpis.messagesIn).toBe(seed.messagesIn);
    expect(report.kpis.messagesOut).toBe(seed.messagesOut);
    expect(report.kpis.cacheHitRate).toBeCloseTo(seed.cacheHits / seed.cacheLookups, 10);
    expect(report.kpis.lockHeldMs).toBe(seed.lockHeldMs);
    expect(report.window.sinceMs).toBe(7_200_000);
    expect(report.agents.map((a: { name: string }) => a.name)).toEqual([
      "analytics",
      "orchestrator",
      "telegram-support",
    ]);
    const messages = report.series.filter((s: { name: string }) => s.name === "aideazz_messages_in_total");
    expect(messages).toHaveLength(1);
    expect(messages[0].trend.reduce((a: number, b: number) => a + b, 0)).toBe(seed.messagesIn);
  });

  it("--agent keeps one agent's series; a long window uses a coarser resolution", async () => {
    const r = await cli(["stats", "--db", url, "--since", "7d", "--agent", "orchestrator", "--json"]);
    const report = JSON.parse(r.stdout);
    expect(report.window.res).toBe(3_600_000);
    expect(new Set(report.series.map((s: { agent: string }) => s.agent))).toEqual(new Set(["orchestrator"]));
    expect(report.agents.map((a: { name: string }) => a.name)).toEqual(["orchestrator"]);
    const typo = await cli(["stats", "--db", url, "--agent", "orchestrater"]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/^stats: no agent "orchestrater" on this database; agents: .*orchestrator/);
  });

  it("a bad --since is a usage error; a database without metrics says what to do", async () => {
    const bad = await cli(["stats", "--db", url, "--since", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split("\n")[0]).toBe(
      'aideazz: --since must be a duration like 15m, 1h or 7d, got "soon"',
    );
    const emptyUrl = `file:${join(dir, "empty.db")}`;
    const store = await openStore({ url: emptyUrl }); // a database file without our tables
    const empty = await cli(["stats", "--db", emptyUrl]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("has no metrics yet; start an agent or run 'aideazz migrate'");
    await migrate(store.client);
    store.close();
    const migrated = await cli(["stats", "--db", emptyUrl]);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain("no agent has started on this database yet");
    expect(migrated.stdout).toContain("no metrics in this window");
  });
});

describe("aideazz stats --since out of range", () => {
  it("a window reaching back before 1970 is a usage error naming --since, not a crash", async () => {
    for (const since of ["99999999999d", "20000w"]) {
      const r = await cli(["stats", "--db", url, "--since", since]);
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n")[0]).toBe(`aideazz: --since must not reach back before 1970, got "${since}"`);
      expect(r.stdout).toBe("");
    }
  });
});

describe("aideazz stats and the health job", () => {
  it("lists the restarts the health job made, with their reasons", async () => {
    const store = await openStore({ url });
    await store.client.execute({
      sql: "INSERT INTO restarts (target, unit, at, kind, reason, action, ok) VALUES (?, ?, ?, ?, ?, ?, ?)",
      args: ["orchestrator", "aideazz-agent@orchestrator.service", Date.now() - 60_000, "failure", "health: no answer within 8 s", "restart", 1],
    });
    store.close();
    const r = await cli(["stats", "--db", url, "--since", "1h"]);
    expect(r.stdout).toContain("RESTARTS BY THE HEALTH JOB");
    expect(r.stdout).toMatch(/orchestrator\s+failure\s+restart\s+ok\s+health: no answer within 8 s/);
    const json = JSON.parse((await cli(["stats", "--db", url, "--json"])).stdout);
    expect(json.restarts).toEqual([expect.objectContaining({ target: "orchestrator", ok: true, reason: "health: no answer within 8 s" })]);
  });
});
