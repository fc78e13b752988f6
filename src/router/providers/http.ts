/**
 * The HTTP plumbing every provider shares: one request with its abort semantics, body reading that turns an
 * unreadable answer into a `malformed` error, and `Retry-After` parsing.
 *
 * @module
 */
import { neverLeft } from "../../net.ts";
import { kindOfStatus, ProviderError, type ProviderErrorKind, toDetail } from "../errors.ts";
import type { ProviderDeps, RateLimitInfo } from "./types.ts";

export interface Endpoint {
  provider: string;
  /** Secrets this provider sends (its key), removed from any error text. */
  secrets: readonly string[];
  deps: ProviderDeps;
}

/**
 * Converts whatever a fetch or a body read threw. An abort whose reason is a `TimeoutError` (the router's
 * per-attempt timeout or deadline) becomes a retriable `timeout`; any other abort is the caller cancelling and is
 * rethrown as is; everything else is a `network` failure. The message never carries the URL. `status`: the answer's,
 * when the failure came while reading its body (the provider accepted the call: it may have billed it).
 */
export function toTransportError(ep: Endpoint, err: unknown, signal: AbortSignal, status = 0): unknown {
  if (err instanceof ProviderError) return err;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof DOMException && reason.name === "TimeoutError") {
      return new ProviderError({
        provider: ep.provider,
        kind: "timeout",
        detail: "no complete answer in time",
      });
    }
    return reason;
  }
  const code = errorCode(err);
  return new ProviderError({
    provider: ep.provider,
    kind: "network",
    status,
    detail: code ?? "request failed",
    unsent: status === 0 && neverLeft(err),
  });
}

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && typeof e === "object" && e !== null; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** POSTs a JSON body; resolves with the response whatever its status. */
export async function postJson(
  ep: Endpoint,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  signal: AbortSignal,
): Promise<Response> {
  try {
    return await ep.deps.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    throw toTransportError(ep, err, signal);
  }
}

/** Reads and parses a JSON body; an unreadable one is `malformed` (retriable: proxies sometimes answer HTML). */
export async function readJson(ep: Endpoint, res: Response, signal: AbortSignal): Promise<unknown> {
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw toTransportError(ep, err, signal, res.status);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ProviderError({
      provider: ep.provider,
      kind: "malformed",
      status: res.status,
      detail: "body is not JSON",
    });
  }
}

/** Reads an error body as text without failing (the status already says it failed). */
export async function readErrorText(res: Response): Promise<string> {
  try {
    return await res.text();
  } catch {
    return "";
  }
}

// Retry-After's delay-seconds (RFC 9110 §10.2.3), with the fraction Groq and Anthropic may send ("0.5").
const DELAY = /^\d+(?:\.\d+)?$/;
// The HTTP-date senders generate (IMF-fixdate, RFC 9110 §5.6.7): `Date.parse` alone reads nearly anything as
// a date, "7, 7" as one in 2001, i.e. "retry now".
const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
// The elements of a comma-joined value (the header sent twice, e.g. by a gateway in front), a date's comma kept.
const ELEMENT = /\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [^,]*|[^,]+/g;

/**
 * `retry-after-ms` (OpenAI-style) or `retry-after` as seconds (Groq, Anthropic: "7", "0.5") or an HTTP date;
 * of a comma-joined list, its first valid element. Undefined when absent or unreadable (never 0 for "unreadable").
 *
 * @example
 * retryAfterMs(new Headers({ "retry-after": "7" }), Date.now()); // 7000
 */
export function retryAfterMs(headers: Headers, now: number): number | undefined {
  const ms = headers.get("retry-after-ms")?.trim();
  if (ms !== undefined && DELAY.test(ms)) return Math.ceil(Number(ms)); // whole ms: stored in INTEGER columns
  for (const [element] of (headers.get("retry-after") ?? "").matchAll(ELEMENT)) {
    const value = element.trim();
    if (DELAY.test(value)) return Math.ceil(Number(value) * 1000);
    const at = IMF_FIXDATE.test(value) ? Date.parse(value) : NaN;
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  return undefined;
}

/** Builds the `ProviderError` for a non-2xx answer from the status, the parsed body's hints and the headers. */
export function toHttpError(
  ep: Endpoint,
  res: Response,
  hint: { kind?: ProviderErrorKind; message?: string; code?: string },
  rateLimit: RateLimitInfo | undefined,
): ProviderError {
  const kind = hint.kind ?? kindOfStatus(res.status);
  const retryAfter = rateLimit?.retryAfterMs ?? retryAfterMs(res.headers, ep.deps.now());
  return new ProviderError({
    provider: ep.provider,
    kind,
    status: res.status,
    ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
    ...(rateLimit ? { rateLimit } : {}),
    ...(hint.message ? { detail: toDetail(hint.message, ep.secrets) } : {}),
    ...(hint.code ? { code: toDetail(hint.code, ep.secrets) } : {}),
  });
}
