/**
 * Who may see the dashboard: with a login configured, HTTP Basic auth (hono's middleware, constant-time
 * comparison); without one, only a loopback binding is allowed, so the page is reachable only from the VM
 * itself (or through `ssh -L`).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { basicAuth } from "hono/basic-auth";
import { clientOf, createMinuteCounter } from "../client-address.ts";
import { type DashboardConfig, exposedWithoutLogin } from "./config.ts";

export interface Login {
  username: string;
  password: string;
}

/** The configured login, read from the secrets the runtime passes (by environment variable name). */
export function loginOf(
  cfg: DashboardConfig | undefined,
  secrets: Readonly<Record<string, string>>,
): Login | undefined {
  if (!cfg?.userEnv || !cfg.passwordEnv) return undefined;
  const username = secrets[cfg.userEnv];
  const password = secrets[cfg.passwordEnv];
  return username && password ? { username, password } : undefined;
}

/** Refuses a dashboard that anyone on the network could open. */
export function assertSafeBinding(agent: string, host: string, login: Login | undefined): void {
  const exposed = exposedWithoutLogin(host, login !== undefined);
  if (exposed) throw new Error(`Cannot start agent "${agent}": ${exposed}`);
}

export interface LoginLimit {
  /** Wrong logins a client address may try per minute (0: no limit). */
  failedPerMinute: number;
  /** Behind a reverse proxy: the header naming the client's address. */
  clientAddressHeader?: string | undefined;
}

/**
 * Basic auth when there is a login; otherwise a pass-through (the binding is loopback). A client address that sent
 * `failedPerMinute` wrong credentials gets 429 until its minute ends, its credentials not even compared: a password
 * cannot be guessed at the speed of the network. Credentials take their slot before they are compared (the
 * comparison is asynchronous: requests sent together would all pass a check counted afterwards) and give it back
 * when they are right. A request without credentials (a browser's first, answered with the challenge) is not a
 * wrong login.
 */
export function dashboardAuth(login: Login | undefined, limit: LoginLimit, now: () => number): MiddlewareHandler {
  if (!login) return (_c, next) => next();
  const basic = basicAuth({ username: login.username, password: login.password, realm: "aideazz dashboard" });
  if (limit.failedPerMinute <= 0) return basic;
  const failures = createMinuteCounter(limit.failedPerMinute, now);
  return async (c, next) => {
    const client = clientOf(c, limit.clientAddressHeader);
    const waitS = failures.waitS(client);
    if (waitS > 0) {
      c.header("Retry-After", String(waitS));
      return c.text(`too many wrong logins; try again in ${waitS} s`, 429);
    }
    const attempt = c.req.header("authorization") !== undefined;
    if (attempt) failures.count(client);
    await basic(c, async () => {
      if (attempt) failures.uncount(client);
      await next();
    });
  };
}
