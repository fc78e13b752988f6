// The dashboard login against guessing: a client address that sent `failedLoginsPerMinute` wrong logins gets 429
// until its minute ends, whatever it sends; other addresses and the operator's first, credential-less request are
// not affected.
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { seedStore } from "../metrics/support/seed.ts";
import { tempDir } from "../support/tmp.ts";
import { type DashboardAgent, startAnalytics } from "./support.ts";

const LOGIN = { user: "owner", password: "dashboard-pass-1" };
const basic = (user: string, password: string) => ({ authorization: `Basic ${btoa(`${user}:${password}`)}` });

describe("dashboard login limit", () => {
  let agent: DashboardAgent | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await agent?.running.stop();
    await cleanup?.();
  });

  async function start(dashboard: Record<string, unknown>, now?: () => number) {
    const tmp = await tempDir("aideazz-login-");
    cleanup = tmp.cleanup;
    const url = `file:${join(tmp.dir, "dash.db")}`;
    await seedStore(url, Date.now(), 5);
    agent = await startAnalytics(url, { login: LOGIN, dashboard, ...(now ? { now } : {}) });
    return agent;
  }

  it("after failedLoginsPerMinute wrong logins an address gets 429 until its minute ends; others log in", async () => {
    let t = Date.now();
    const { base } = await start({ failedLoginsPerMinute: 3, clientAddressHeader: "x-forwarded-for" }, () => t);
    const from = (addr: string) => ({ "x-forwarded-for": addr });
    const get = (headers: Record<string, string>) => fetch(`${base}/api/dashboard`, { headers });

    for (let i = 0; i < 5; i++) {
      const res = await get(from("203.0.113.5")); // a browser's first request: no credentials, the challenge
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Basic realm="aideazz dashboard"');
    }
    for (const password of ["guess-1", "guess-2", "guess-3"]) {
      expect((await get({ ...from("203.0.113.5"), ...basic(LOGIN.user, password) })).status).toBe(401);
    }
    const locked = await get({ ...from("203.0.113.5"), ...basic(LOGIN.user, LOGIN.password) });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThanOrEqual(59);
    expect(await locked.text()).toBe("too many wrong logins; try again in 60 s");
    // A proxy appends the address it saw: what the client wrote before it does not make it someone else.
    const spoofed = await get({ "x-forwarded-for": "198.51.100.1, 203.0.113.5", ...basic(LOGIN.user, LOGIN.password) });
    expect(spoofed.status).toBe(429);

    const other = await get({ ...from("203.0.113.6"), ...basic(LOGIN.user, LOGIN.password) });
    expect(other.status).toBe(200);
    expect(await other.json()).toHaveProperty("now");

    t += 60_000;
    expect((await get({ ...from("203.0.113.5"), ...basic(LOGIN.user, LOGIN.password) })).status).toBe(200);
  });

  it("counts the peer address without a proxy header, 10 a minute by default; 0 turns the limit off", async () => {
    const { base } = await start({});
    const wrong = () => fetch(`${base}/`, { headers: basic(LOGIN.user, "nope") });
    for (let i = 0; i < 10; i++) expect((await wrong()).status).toBe(401);
    expect((await wrong()).status).toBe(429);
    await agent!.running.stop();
    await cleanup!();
    agent = undefined;

    const off = await start({ failedLoginsPerMinute: 0 });
    for (let i = 0; i < 30; i++) {
      expect((await fetch(`${off.base}/`, { headers: basic(LOGIN.user, "nope") })).status).toBe(401);
    }
    expect((await fetch(`${off.base}/`, { headers: basic(LOGIN.user, LOGIN.password) })).status).toBe(200);
  });

  it("wrong logins sent together are limited too: each takes its slot before the (asynchronous) comparison", async () => {
    const a = await start({}); // 10 wrong logins a minute
    // 100 connections opened first, then every request written in the same tick (a client with many sockets).
    const port = Number(new URL(a.base).port);
    const sockets = await Promise.all(Array.from({ length: 100 }, () =>
      new Promise<Socket>((resolve) => {
        const s: Socket = connect(port, "127.0.0.1", () => resolve(s));
      })));
    await new Promise((r) => setTimeout(r, 100)); // the server has accepted them all
    const statuses = await Promise.all(sockets.map((s, i) =>
      new Promise<number>((resolve) => {
        let got = "";
        s.on("data", (d) => {
          got += d.toString();
          const m = /^HTTP\/1\.1 (\d+)/.exec(got);
          if (m) {
            resolve(Number(m[1]));
            s.destroy();
          }
        });
        const auth = basic(LOGIN.user, `guess-${i}`).authorization;
        s.write(`GET /api/dashboard HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`);
      })));
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(90);
  });
});
