/**
 * Rate-limit headers into `RateLimitInfo`. Two dialects: OpenAI-style `x-ratelimit-*` with relative Go-style
 * durations ("2m59.56s", "7.66s", "120ms"), used by Groq and OpenAI-compatible servers, and Anthropic's
 * `anthropic-ratelimit-*` with absolute RFC 3339 reset times.
 *
 * @module
 */
import { retryAfterMs } from "./http.ts";
import type { RateLimitInfo, RateLimitWindow } from "./types.ts";

const UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
  us: 0.001,
  "µs": 0.001,
  ns: 1e-6,
};

/** "2m59.56s" → 179560; "7.66s" → 7660; "120ms" → 120; a bare number is seconds. Undefined when unreadable. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  let total = 0;
  let rest = t;
  while (rest !== "") {
    const m = /^(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 0);
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

function num(headers: Headers, name: string): number | undefined {
  const v = headers.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function window(
  unit: RateLimitWindow["unit"],
  period: RateLimitWindow["period"],
  limit: number | undefined,
  remaining: number | undefined,
  resetAt: number | undefined,
): RateLimitWindow | undefined {
  if (limit === undefined && remaining === undefined) return undefined;
  return {
    unit,
    period,
    ...(limit !== undefined ? { limit } : {}),
    ...(remaining !== undefined ? { remaining } : {}),
    ...(resetAt !== undefined ? { resetAt } : {}),
  };
}

/** Which window each header family describes. Groq: requests per day, tokens per minute; OpenAI: both per minute. */
export interface OpenAIHeaderPeriods {
  requests: RateLimitWindow["period"];
  tokens: RateLimitWindow["period"];
}

export function openAIRateLimit(
  headers: Headers,
  now: number,
  periods: OpenAIHeaderPeriods,
): RateLimitInfo | undefined {
  const windows: RateLimitWindow[] = [];
  for (const unit of ["requests", "tokens"] as const) {
    const reset = headers.get(`x-ratelimit-reset-${unit}`);
    const resetMs = reset === null ? undefined : parseDuration(reset);
    const w = window(
      unit,
      periods[unit],
      num(headers, `x-ratelimit-limit-${unit}`),
      num(headers, `x-ratelimit-remaining-${unit}`),
      resetMs === undefined ? undefined : now + resetMs,
    );
    if (w) windows.push(w);
  }
  const retryAfter = retryAfterMs(headers, now);
  if (windows.length === 0 && retryAfter === undefined) return undefined;
  return { windows, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) };
}

export function anthropicRateLimit(headers: Headers, now: number): RateLimitInfo | undefined {
  const windows: RateLimitWindow[] = [];
  for (const unit of ["requests", "tokens", "input_tokens", "output_tokens"] as const) {
    const prefix = `anthropic-ratelimit-${unit.replace("_", "-")}`;
    const reset = headers.get(`${prefix}-reset`);
    const at = reset === null ? NaN : Date.parse(reset);
    const w = window(
      unit,
      "minute",
      num(headers, `${prefix}-limit`),
      num(headers, `${prefix}-remaining`),
      Number.isNaN(at) ? undefined : at,
    );
    if (w) windows.push(w);
  }
  const retryAfter = retryAfterMs(headers, now);
  if (windows.length === 0 && retryAfter === undefined) return undefined;
  return { windows, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) };
}
