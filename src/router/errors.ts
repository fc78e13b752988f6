/**
 * The router's error classes. Providers throw only `ProviderError` for anything the remote side did (status,
 * timeout, network, unreadable body); the chain falls back on those and lets every other error (a bug) surface.
 *
 * @module
 */
import type { RateLimitInfo } from "./providers/types.ts";

export type ProviderErrorKind =
  | "rate_limit"
  | "overloaded"
  | "server"
  | "timeout"
  | "network"
  | "auth"
  | "bad_request"
  | "spend_limit"
  | "malformed"
  /** An answer without text (a refusal without a message, a model that stopped at once): another provider may answer. */
  | "empty";

/** Kinds worth another attempt at the same provider (after a delay); the others only allow a fallback. */
const RETRIABLE: ReadonlySet<ProviderErrorKind> = new Set([
  "rate_limit",
  "overloaded",
  "server",
  "timeout",
  "network",
  "malformed",
]);

/** Kinds that say nothing about the provider's health, so they never trip its breaker (RELIABILITY D3). */
const NEUTRAL: ReadonlySet<ProviderErrorKind> = new Set(["auth", "bad_request", "spend_limit", "rate_limit", "empty"]);

export interface ProviderErrorInit {
  provider: string;
  kind: ProviderErrorKind;
  /** HTTP status, or 0 when no answer arrived (timeout, network). */
  status?: number;
  retryAfterMs?: number;
  rateLimit?: RateLimitInfo;
  /** Short detail from the provider's error body; never a key or a URL carrying one. */
  detail?: string;
  /** The error body's code (OpenAI style, e.g. `context_length_exceeded`), passed on to the OpenAI endpoint's caller. */
  code?: string;
  /** A network failure before any connection was made: the provider cannot have read, nor billed, the request. */
  unsent?: boolean;
}

export class ProviderError extends Error {
  readonly provider: string;
  readonly kind: ProviderErrorKind;
  readonly status: number;
  /** Another attempt at this provider may succeed; fallback to another provider is always allowed. */
  readonly retriable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly rateLimit: RateLimitInfo | undefined;
  readonly code: string | undefined;
  readonly unsent: boolean;

  constructor(init: ProviderErrorInit) {
    const status = init.status ?? 0;
    const where = status > 0 ? `HTTP ${status} ` : "";
    super(`${init.provider}: ${where}${init.kind}${init.detail ? `: ${init.detail}` : ""}`);
    this.name = "ProviderError";
    this.provider = init.provider;
    this.kind = init.kind;
    this.status = status;
    this.retriable = RETRIABLE.has(init.kind);
    this.retryAfterMs = init.retryAfterMs;
    this.rateLimit = init.rateLimit;
    this.code = init.code;
    this.unsent = init.unsent ?? false;
  }

  /** Whether this failure counts against the provider's circuit breaker. */
  get tripsBreaker(): boolean {
    return !NEUTRAL.has(this.kind);
  }

  /** Failures an operator must act on (a bad key, an exhausted account, a request the provider refuses). */
  get needsOperator(): boolean {
    return this.kind === "auth" || this.kind === "spend_limit" || this.kind === "bad_request";
  }
}

/** Why a provider of the chain was not called or did not answer. */
export interface ChainFailure {
  provider: string;
  /** `ProviderError` kind, or why the provider was skipped (breaker open, quota, budget, bulkhead). */
  reason: ProviderErrorKind | SkipReason;
  status?: number;
  /** The provider's error code, when its body had one. */
  code?: string;
  attempts: number;
  /**
   * Epoch ms when a new request may call this provider again, when known: its Retry-After, quota or spend-limit
   * block, or its breaker's cooldown. The OpenAI endpoint tells its caller when to come back from it.
   */
  retryAt?: number;
}

export type SkipReason = "breaker_open" | "quota" | "budget" | "bulkhead_full" | "cooldown" | "deadline";

/** One step of a chain walk, for the decision record. */
export interface AttemptRecord {
  provider: string;
  model: string;
  outcome: "ok" | "error" | "skipped";
  reason?: ProviderErrorKind | SkipReason;
  status?: number;
  /** Milliseconds since the walk started. */
  at: number;
  latencyMs: number;
  /** After a retriable error: the delay before this provider may be tried again (Retry-After + jitter). */
  retryInMs?: number;
}

/** Every provider of the chain failed or was skipped; the caller sends one honest "temporarily unavailable". */
export class AllProvidersFailedError extends Error {
  constructor(
    readonly tier: string,
    readonly failures: readonly ChainFailure[],
    /** Every attempt and skip of the walk, as in a decision record. */
    readonly attempts: readonly AttemptRecord[] = [],
  ) {
    const list = failures.map((f) => `${f.provider} (${f.reason}${f.status ? ` ${f.status}` : ""})`).join(
      ", ",
    );
    super(`no provider answered the ${tier} turn: ${list || "the chain is empty"}`);
    this.name = "AllProvidersFailedError";
  }

  /**
   * Every provider refused the request itself (400 or 413, e.g. over its context window): sent again unchanged it
   * is refused again. Not a model the provider no longer has (404, `model_decommissioned`): the operator's to fix.
   */
  get requestRefused(): boolean {
    return this.failures.length > 0 && this.failures.every((f) =>
      f.reason === "bad_request" && (f.status === 400 || f.status === 413) && !/model/i.test(f.code ?? "")
    );
  }
}

const MAX_DETAIL = 200;

/** Shortens a provider's error text and removes secrets from it (some proxies echo the key). */
export function toDetail(text: string, secrets: readonly string[]): string {
  let out = text.replace(/\s+/g, " ").trim();
  for (const s of secrets) if (s.length >= 6) out = out.split(s).join("[redacted]");
  out = out.replace(/https?:\/\/\S+/g, "[url]");
  return out.length > MAX_DETAIL ? `${out.slice(0, MAX_DETAIL)}…` : out;
}

/** The kind an HTTP error status maps to when the body says nothing more specific. */
export function kindOfStatus(status: number): ProviderErrorKind {
  if (status === 401 || status === 403) return "auth";
  if (status === 402) return "spend_limit";
  if (status === 408) return "timeout";
  if (status === 429) return "rate_limit";
  if (status === 503 || status === 529 || status === 498) return "overloaded";
  if (status === 409 || status >= 500) return "server";
  return "bad_request";
}
