import { describe, expect, it } from "vitest";
import { retryAfterMs } from "../../../src/router/providers/http.ts";
import {
  anthropicRateLimit,
  openAIRateLimit,
  parseDuration,
} from "../../../src/router/providers/ratelimit.ts";

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);

describe("rate-limit headers", () => {
  it("parses Go-style durations as Groq sends them", () => {
    expect(parseDuration("2m59.56s")).toBe(179_560);
    expect(parseDuration("7.66s")).toBe(7_660);
    expect(parseDuration("120ms")).toBe(120);
    expect(parseDuration("1h2m3s")).toBe(3_723_000);
    expect(parseDuration("6")).toBe(6_000);
    expect(parseDuration("soon")).toBeUndefined();
  });

  it("reads Groq's x-ratelimit-* as requests per day and tokens per minute", () => {
    const headers = new Headers({
      "x-ratelimit-limit-requests": "14400",
      "x-ratelimit-remaining-requests": "14370",
      "x-ratelimit-reset-requests": "2m59.56s",
      "x-ratelimit-limit-tokens": "18000",
      "x-ratelimit-remaining-tokens": "17997",
      "x-ratelimit-reset-tokens": "7.66s",
    });
    expect(openAIRateLimit(headers, NOW, { requests: "day", tokens: "minute" })).toEqual({
      windows: [
        { unit: "requests", period: "day", limit: 14_400, remaining: 14_370, resetAt: NOW + 179_560 },
        { unit: "tokens", period: "minute", limit: 18_000, remaining: 17_997, resetAt: NOW + 7_660 },
      ],
    });
  });

  it("adds retry-after (seconds) from a 429", () => {
    const headers = new Headers({ "retry-after": "7", "x-ratelimit-remaining-tokens": "0" });
    expect(openAIRateLimit(headers, NOW, { requests: "minute", tokens: "minute" })).toEqual({
      windows: [{ unit: "tokens", period: "minute", remaining: 0 }],
      retryAfterMs: 7_000,
    });
  });

  it("reads Anthropic's anthropic-ratelimit-* with absolute RFC 3339 resets", () => {
    const headers = new Headers({
      "anthropic-ratelimit-requests-limit": "50",
      "anthropic-ratelimit-requests-remaining": "49",
      "anthropic-ratelimit-requests-reset": "2030-01-15T12:00:30Z",
      "anthropic-ratelimit-output-tokens-limit": "8000",
      "anthropic-ratelimit-output-tokens-remaining": "7900",
    });
    expect(anthropicRateLimit(headers, NOW)?.windows).toEqual([
      { unit: "requests", period: "minute", limit: 50, remaining: 49, resetAt: NOW + 30_000 },
      { unit: "output_tokens", period: "minute", limit: 8_000, remaining: 7_900 },
    ]);
  });

  it("returns undefined when a response has no rate-limit headers (llama-server)", () => {
    expect(openAIRateLimit(new Headers(), NOW, { requests: "minute", tokens: "minute" })).toBeUndefined();
  });

  it("reads retry-after as seconds, fractions, an HTTP date, or retry-after-ms", () => {
    expect(retryAfterMs(new Headers({ "retry-after": "7" }), NOW)).toBe(7_000);
    expect(retryAfterMs(new Headers({ "retry-after": "0.5" }), NOW)).toBe(500);
    expect(retryAfterMs(new Headers({ "retry-after": new Date(NOW + 12_000).toUTCString() }), NOW)).toBe(
      12_000,
    );
    expect(retryAfterMs(new Headers({ "retry-after-ms": "1500", "retry-after": "2" }), NOW)).toBe(1_500);
    expect(retryAfterMs(new Headers({ "retry-after": "later" }), NOW)).toBeUndefined();
    expect(retryAfterMs(new Headers(), NOW)).toBeUndefined();
  });

  it("reads retry-after only as delay-seconds or an IMF-fixdate; of a comma-joined list, its first valid element", () => {
    // `Date.parse` read "7, 7" (the header sent twice, joined by `Headers.get`) as a date in 2001: "retry now".
    const doubled = new Headers();
    doubled.append("retry-after", "7");
    doubled.append("retry-after", "7");
    expect(retryAfterMs(doubled, NOW)).toBe(7_000);
    expect(retryAfterMs(new Headers({ "retry-after": "1, 2" }), NOW)).toBe(1_000);
    expect(retryAfterMs(new Headers({ "retry-after": "later, 3" }), NOW)).toBe(3_000);
    const date = new Date(NOW + 12_000).toUTCString();
    expect(retryAfterMs(new Headers({ "retry-after": `${date}, ${date}` }), NOW)).toBe(12_000);
    for (const unreadable of ["2030-01-15T12:00:12Z", "Tuesday, 15-Jan-30 12:00:12 GMT", "1e3", "-1", ","]) {
      expect(retryAfterMs(new Headers({ "retry-after": unreadable }), NOW)).toBeUndefined();
    }
    expect(retryAfterMs(new Headers({ "retry-after-ms": "", "retry-after": "2" }), NOW)).toBe(2_000);
  });
});
