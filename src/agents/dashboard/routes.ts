/**
 * Mounts the dashboard on the analytics agent's app: `GET /` (the page, `?window=1h`), `GET /traces/:id` and
 * `GET /api/dashboard` (the same data as JSON), all behind the login when one is configured.
 *
 * @module
 */
import type { Hono, MiddlewareHandler } from "hono";
import type { Config } from "../../config.ts";
import { parseDuration, type Retention } from "../../metrics/mod.ts";
import type { Client } from "../../store/mod.ts";
import { eventsOf, isTraceIdOrPart, matchTraceIds } from "../../trace/mod.ts";
import { dashboardAuth, type Login, type LoginLimit } from "./auth.ts";
import { loadDashboard } from "./data.ts";
import { renderDashboard } from "./page.ts";
import { renderTracePage } from "./trace-page.ts";

export interface DashboardOptions {
  client: Client;
  config: Config;
  retention: Retention;
  now: () => number;
  agent: string;
  version: string;
  login: Login | undefined;
  loginLimit: LoginLimit;
  refreshS: number;
}

const MIN_WINDOW = 5 * 60_000;
const MAX_WINDOW = 90 * 86_400_000;

/** The window of a request (`?window=6h`), clamped to 5 min … 90 days; default 1 h. */
export function windowOf(text: string | undefined): { ms: number; text: string } {
  const ms = text === undefined ? undefined : parseDuration(text);
  if (ms === undefined) return { ms: 3_600_000, text: "1h" };
  // The label says what is shown: a window clamped to its bounds is labelled with the bound.
  if (ms < MIN_WINDOW) return { ms: MIN_WINDOW, text: "5m" };
  if (ms > MAX_WINDOW) return { ms: MAX_WINDOW, text: "90d" };
  return { ms, text: text! };
}

/**
 * The pages use no script and fetch nothing (inline CSS and SVG): a policy that allows only that, no framing, and
 * nothing kept by caches (the data has chat ids and phone numbers).
 */
const POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; " +
  "frame-ancestors 'none'";
const secureHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  c.header("Content-Security-Policy", POLICY);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "no-referrer");
  c.header("Cache-Control", "no-store");
};

export function mountDashboard(app: Hono, o: DashboardOptions): void {
  const auth = dashboardAuth(o.login, o.loginLimit, o.now);
  for (const path of ["/", "/traces/*", "/api/dashboard"]) app.use(path, secureHeaders, auth);
  const load = (windowMs: number) =>
    loadDashboard(o.client, { now: o.now(), windowMs, retention: o.retention, config: o.config });

  app.get("/", async (c) => {
    const w = windowOf(c.req.query("window"));
    const data = await load(w.ms);
    return c.html(
      await renderDashboard({
        data,
        agent: o.agent,
        version: o.version,
        refreshS: o.refreshS,
        loopbackOnly: o.login === undefined,
        windowText: w.text,
      }),
    );
  });
  app.get("/api/dashboard", async (c) => c.json(await load(windowOf(c.req.query("window")).ms)));
  // Browsers ask for it on every page: nothing to show, and no 404 to count.
  app.get("/favicon.ico", (c) => c.body(null, 204));
  app.get("/traces/:id", async (c) => {
    const id = c.req.param("id").toLowerCase();
    if (!isTraceIdOrPart(id)) return c.html(await renderTracePage(id, []), 404);
    const matches = await matchTraceIds(o.client, id, 2);
    const match = matches.length === 1 ? matches[0] : undefined; // an ambiguous part names no trace
    const events = match ? (await eventsOf(o.client, [match])).get(match) ?? [] : [];
    return c.html(await renderTracePage(match ?? id, events), events.length > 0 ? 200 : 404);
  });
}
