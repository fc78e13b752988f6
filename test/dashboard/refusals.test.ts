// Without the login no dashboard path gives data (HEAD, an encoded path and a bare /traces/ included), and every
// refusal (401, and 429 after too many wrong logins) is no-store with the content policy: a proxy or browser cache
// keeps none of it.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStore } from "../metrics/support/seed.ts";
import { tempDir } from "../support/tmp.ts";
import { type DashboardAgent, startAnalytics } from "./support.ts";

const LOGIN = { user: "owner", password: "dashboard-pass-1" };
let dir: string;
let cleanup: () => Promise<void>;
let agent: DashboardAgent;
let traceId: string;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-dash-refusals-"));
  const url = `file:${join(dir, "dash.db")}`;
  traceId = (await seedStore(url, Date.now(), 60)).traceIds.at(-1)!;
  agent = await startAnalytics(url, { login: LOGIN, dashboard: { failedLoginsPerMinute: 2 } });
}, 120_000);
afterAll(async () => {
  await agent?.running.stop();
  await cleanup?.();
});

describe("dashboard refusals", () => {
  it("no path gives data without the login; a 401 is no-store", async () => {
    for (const path of ["/", "/?window=7d", "/api/dashboard", `/traces/${traceId}`, "/%61pi/dashboard", "/traces/"]) {
      for (const method of ["GET", "HEAD"]) {
        const res = await fetch(`${agent.base}${path}`, { method });
        const body = await res.text();
        expect([401, 404], `${method} ${path}`).toContain(res.status);
        expect(body, path).not.toContain("telegram-support");
        if (res.status === 401) expect(res.headers.get("cache-control"), path).toBe("no-store");
      }
    }
  });

  it("the 429 after too many wrong logins is no-store with the content policy", async () => {
    const wrong = { authorization: `Basic ${btoa("owner:nope")}` };
    for (let i = 0; i < 3; i++) await fetch(`${agent.base}/`, { headers: wrong });
    const limited = await fetch(`${agent.base}/api/dashboard`, { headers: wrong });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("cache-control")).toBe("no-store");
    expect(limited.headers.get("content-security-policy")).toContain("default-src 'none'");
  });
});
