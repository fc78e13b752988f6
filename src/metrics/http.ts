/**
 * Hono middleware counting every request of an agent's app and timing it, labelled by method (`other` for a
 * method outside the usual seven), the matched route pattern (`/traces/:id`, never the raw path: ids in paths
 * would make a series per request) and status.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { M } from "./names.ts";
import type { Metrics } from "./registry.ts";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Counts and times requests into `aideazz_http_requests_total` and `aideazz_http_request_duration_ms`. */
export function httpMetrics(
  metrics: Metrics,
  elapsed: () => number = () => performance.now(),
): MiddlewareHandler {
  return async (c, next) => {
    const started = elapsed();
    await next();
    const matched = routePath(c);
    const route = matched === "*" || matched === "/*" ? "unmatched" : matched;
    // The method is the client's to choose: any other than these would be a series per request.
    const method = METHODS.has(c.req.method) ? c.req.method : "other";
    metrics.inc(M.httpRequests, { method, route, status: String(c.res.status) });
    metrics.observe(M.httpDuration, elapsed() - started, { method, route });
  };
}
