// The dashboard in headless Chromium (Debian's chromium package): real data in the store, charts rendered as
// non-empty SVG paths, no request leaves the agent, screenshots saved under test-artifacts/.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SeedResult, seedStore } from "../metrics/support/seed.ts";
import { repoRoot } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";
import { type DashboardAgent, startAnalytics } from "./support.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(repoRoot, "test-artifacts");
const LOGIN = { user: "owner", password: "dashboard-pass-1" };

let dir: string;
let cleanup: () => Promise<void>;
let seed: SeedResult;
let agent: DashboardAgent;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  ({ dir, cleanup } = await tempDir("aideazz-dash-"));
  const url = `file:${join(dir, "dash.db")}`;
  seed = await seedStore(url, Date.now(), 60);
  agent = await startAnalytics(url, { login: LOGIN });
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await agent?.running.stop();
  await cleanup?.();
});

describe("dashboard in Chromium", () => {
  it(
    "renders every chart from the stored data, fetches nothing from elsewhere, and is screenshotted",
    async () => {
      const context = await browser.newContext({
        httpCredentials: { username: LOGIN.user, password: LOGIN.password },
        viewport: { width: 1440, height: 900 },
      });
      const page = await context.newPage();
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      const failed: string[] = [];
      page.on("response", (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
      // The orchestrator stopped cleanly: shown as stopped, without an uptime.
      await agent.running.store.client.execute(
        "UPDATE agent_heartbeats SET stopped_at = seen_at WHERE agent = 'orchestrator'",
      );
      const violations: string[] = [];
      page.on("console", (m) => m.text().includes("Content Security Policy") && violations.push(m.text()));
      const res = await page.goto(`${agent.base}/?window=1h`);
      expect(res?.status()).toBe(200);
      // No script, nothing fetched, no framing, nothing cached; the page needs nothing the policy forbids.
      expect(res?.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
      expect(res?.headers()["x-content-type-options"]).toBe("nosniff");
      expect(res?.headers()["cache-control"]).toBe("no-store");
      expect(await page.title()).toBe("aideazz · analytics");
      expect(await page.evaluate(() => document.compatMode)).toBe("CSS1Compat"); // standards mode, not quirks

      // Line charts: each series with data is a path with at least one segment.
      for (const id of ["throughput", "latency", "cache", "memory"]) {
        const paths = await page.$$eval(
          `#${id} svg path.series`,
          (els) => els.map((e) => e.getAttribute("d") ?? ""),
        );
        expect(paths.length, id).toBeGreaterThan(0);
        expect(
          paths.filter((d) => /^M[\d.]+ [\d.]+ L/.test(d)).length,
          id,
        ).toBeGreaterThan(0);
      }
      const lines = await page.$$eval(
        "#throughput svg path.series",
        (els) =>
          els.map((e) => [e.getAttribute("data-series"), (e.getAttribute("d") ?? "").split("L").length]),
      );
      expect(lines).toEqual([["messages in", 120], ["replies out", 120], ["HTTP requests", 120]]);
      expect(
        await page.$$eval("#memory svg path.series", (els) => els.map((e) => e.getAttribute("data-series"))),
      )
        .toEqual(["analytics", "orchestrator", "telegram-support"]);
      // Bar charts: one non-empty bar per provider, per day, per quota, per error kind.
      const bars = async (id: string) =>
        (await page.$$eval(`#${id} svg path.bar`, (els) => els.map((e) => e.getAttribute("d") ?? ""))).filter(
          (d) => /^M[\d.]+ [\d.]+ [vh]-?[\d.]+/.test(d) && !/[vh]0 /.test(d),
        );
      expect((await bars("providers")).length).toBe(5); // cache, groq, claude, local, none (the failed message)
      expect((await bars("spend")).length).toBeGreaterThanOrEqual(13);
      expect(await page.$$eval("#spend svg path.ref", (els) => els.length)).toBe(1);
      expect((await bars("quota")).length).toBe(3);
      expect((await bars("errors")).length).toBeGreaterThanOrEqual(3);
      // Failures in the window, not only what is dead now: a message dead-lettered, a provider not called.
      const errorLabels = await page.$$eval("#errors svg text.label", (els) => els.map((e) => e.textContent));
      expect(errorLabels).toEqual(expect.arrayContaining(["dead-lettered (inbound)", "claude not called: budget"]));
      // The rendered SVG has real geometry (not zero-size or hidden).
      const box = await page.locator("#latency svg").boundingBox();
      expect(box!.width).toBeGreaterThan(300);
      expect(box!.height).toBeGreaterThan(80);
      // Tables and numbers.
      expect(await page.$$eval("#agents tbody tr", (els) => els.length)).toBe(3);
      const orchestrator = await page.$$eval(
        "#agents tbody tr",
        (rows) => rows.map((r) => [...r.children].map((c) => c.textContent?.trim())).find((c) => c[0] === "orchestrator"),
      );
      expect([orchestrator?.[2], orchestrator?.[5]]).toEqual(["stopped", "—"]);
      expect(await page.$$eval("#traces tbody tr", (els) => els.length)).toBe(seed.traceIds.length);
      expect(await page.locator(".kpi-value").first().textContent()).toMatch(/^\d[\d.]*k? \/ \d[\d.]*k?$/);
      // One message of the hour failed: the share answered is short of 100 %.
      expect(await page.locator(".kpi-sub").first().textContent()).toMatch(/^answered 99\.\d%$/);
      const lock = page.locator(".kpi", { has: page.locator(".kpi-label", { hasText: "write lock held" }) });
      expect(await lock.locator(".kpi-value").textContent()).toMatch(/^\d+(\.\d)?%$/);
      expect(await lock.locator(".kpi-sub").textContent()).toMatch(/^wait p99 \d/);
      expect(await page.locator('meta[http-equiv="refresh"]').getAttribute("content")).toBe("60");
      expect(requests.every((u) => u.startsWith(agent.base))).toBe(true);
      await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });

      // Follow the newest trace: the waterfall renders one bar per event.
      await page.click("#traces tbody tr:first-child a");
      await page.waitForSelector("svg.waterfall");
      expect(page.url()).toContain(`/traces/${seed.traceIds.at(-1)}`);
      const steps = await page.$$eval("svg.waterfall path.bar", (els) => els.length);
      expect(steps).toBe(8); // received, stored, claimed, cache, route, provider, reply_queued, dead_letter
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-trace.png"), fullPage: true });
      expect(violations).toEqual([]);
      expect(failed).toEqual([]);
      await context.close();
    },
    120_000,
  );

  it("fits a phone's screen (390 px): no sideways scrolling; a wide table scrolls inside its card", async () => {
    const context = await browser.newContext({
      httpCredentials: { username: LOGIN.user, password: LOGIN.password },
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    for (const path of ["/", `/traces/${seed.traceIds.at(-1)}`]) {
      await page.goto(`${agent.base}${path}`);
      const r = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        clientWidth: document.documentElement.clientWidth,
        right: Math.max(...[...document.querySelectorAll(".card")].map((e) => e.getBoundingClientRect().right)),
      }));
      expect(r.clientWidth, path).toBe(390);
      expect(r.right, path).toBeLessThanOrEqual(r.clientWidth);
      expect(r.scrollWidth, path).toBeLessThanOrEqual(r.clientWidth);
    }
    await page.goto(`${agent.base}/`);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-phone.png"), fullPage: true });
    await context.close();
  }, 60_000);

  it("without credentials Chromium gets 401 and a Basic auth challenge", async () => {
    const context = await browser.newContext();
    const res = await context.request.get(`${agent.base}/`);
    expect(res.status()).toBe(401);
    expect(res.headers()["www-authenticate"]).toBe('Basic realm="aideazz dashboard"');
    // What a browser asks for beside each page: no 404 logged and counted every time.
    expect((await context.request.get(`${agent.base}/favicon.ico`)).status()).toBe(204);
    await context.close();
  }, 60_000);
});
