/**
 * The fallback walker: tries the providers of a turn's chain in order, skipping one whose breaker is open, whose
 * bulkhead is full, whose budget reservation or quota does not fit; retries retriable failures at the same
 * provider only after its delay (`Retry-After` + jittered backoff), falling back to the next ones meanwhile; and
 * stops at the overall deadline. It catches only `ProviderError`: anything else is a bug and is rethrown after the
 * reservations are released. Every step lands in the decision record the orchestrator stores and measures.
 *
 * Streaming (`onText`): the same walk and the same guards, but a provider that can stream is read chunk by chunk
 * and the text so far is handed to `onText`. Fallback happens only before the first chunk, or while the caller's
 * `shown` says none of it went towards the user: once the user may have seen text from one provider, a failure
 * ends the walk with `StreamInterruptedError` (the turn is retried as a whole; the channel then edits the message
 * it already posted).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Client } from "../store/mod.ts";
import type { Breaker, BreakerPermit, BreakerState } from "./breaker.ts";
import { type Budget, createBudget, type Reservation } from "./budget.ts";
import { type Classification, classifyTurn, type TurnFacts } from "./classify.ts";
import { type RetryConfig, type RouterSettings, type Tier, TIERS } from "./config.ts";
import {
  AllProvidersFailedError,
  type AttemptRecord,
  type ChainFailure,
  ProviderError,
  type SkipReason,
} from "./errors.ts";
import type { Bulkhead } from "./providers/bulkhead.ts";
import { withTimeout } from "./providers/signal.ts";
import type { ChatMessage, ChatProvider, ChatRequest, ChatResponse, ProviderKind, Usage } from "./providers/types.ts";

export type { AttemptRecord } from "./errors.ts";
import { createChainEntries } from "./providers/mod.ts";
import { createQuota, type Quota } from "./quota.ts";
import { retryDelay } from "./retry.ts";

/**
 * How long a provider that refused for its account's spend limit is left out (RELIABILITY D3): an operator must
 * raise the limit, and meanwhile every turn would call it in vain and raise the alert again.
 */
export const SPEND_LIMIT_BLOCK_MS = 15 * 60_000;
/** Errors whose Retry-After is the provider asking to be left alone that long. */
const WAIT_KINDS: ReadonlySet<string> = new Set(["rate_limit", "overloaded", "server"]);

/** One provider of a chain with its guards. */
export interface ChainEntry {
  name: string;
  provider: ChatProvider;
  model: string;
  timeoutMs: number;
  breaker: Breaker;
  bulkhead: Bulkhead;
}

export interface ChainDeps {
  quota: Quota;
  budget: Budget;
  retry: RetryConfig;
  now: () => number;
  random: () => number;
  /** Waits `ms` or rejects when `signal` aborts; tests pass one that moves a fake clock. */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  log?: Logger | undefined;
  /**
   * Every provider call as the budget settles it, whoever routed it (a turn, a role's second call, the OpenAI
   * endpoint, a cache check) and however it ended: what it was charged and the tokens it reported (the operator's
   * spend and token counters).
   */
  onSettled?: (provider: string, model: string, charged: { usd: number; usage?: Usage }) => void;
}

/** A request without a model: each provider of the chain sends its own. */
export interface RouteRequest {
  messages: readonly ChatMessage[];
  maxTokens: number;
  temperature?: number;
  stop?: readonly string[];
}

/** What the orchestrator stores for metrics and tracing. */
export interface Decision {
  tier: Tier;
  provider: string;
  model: string;
  /** "first choice", or which providers failed or were skipped before this one answered. */
  reason: string;
  latencyMs: number;
  tokens: Usage;
  costUsd: number;
  attempts: AttemptRecord[];
}

export interface RouteResult {
  response: ChatResponse;
  decision: Decision;
}

export interface WalkOptions {
  tier: Tier;
  /** Epoch ms (on `deps.now`) by which the reply must be there. */
  deadlineAt: number;
  /** The caller's cancellation (e.g. shutdown); its reason is rethrown as is. */
  signal?: AbortSignal | undefined;
  /**
   * Stream: called with the whole text so far after every chunk of a provider that streams (providers without
   * `stream()` answer at once). Must not throw; fallback stops at the first chunk, or with `shown`, once it says
   * some of the text may be on the user's screen.
   */
  onText?: ((text: string) => void) | undefined;
  shown?: (() => boolean) | undefined;
}

/**
 * A streamed reply broke once the user may have seen part of it, so no other provider continues it (fallback
 * happens only before). The turn is retried as a whole.
 */
export class StreamInterruptedError extends AllProvidersFailedError {
  constructor(tier: string, failures: readonly ChainFailure[], attempts: readonly AttemptRecord[] = []) {
    super(tier, failures, attempts);
    this.name = "StreamInterruptedError";
    this.message = `the streamed reply of the ${tier} turn broke off: ${
      failures.map((f) => `${f.provider} (${f.reason}${f.status ? ` ${f.status}` : ""})`).join(", ")
    }`;
  }

  /** Only the provider that broke off was asked: the turn is retried, whatever it said. */
  override get requestRefused(): boolean {
    return false;
  }
}

/**
 * Reads a provider's stream into a response, reporting the text so far; `seen` is set at the first text,
 * `progress` called at every chunk.
 */
async function readStream(
  provider: ChatProvider,
  stream: NonNullable<ChatProvider["stream"]>,
  req: ChatRequest,
  signal: AbortSignal,
  onText: (text: string) => void,
  seen: { text: boolean },
  progress: () => void,
): Promise<ChatResponse> {
  let text = "";
  for await (const chunk of stream(req, { signal })) {
    progress();
    if (chunk.type === "delta") {
      if (chunk.text === "") continue;
      text += chunk.text;
      // Only text a user can see commits the turn to this provider: a blank start may still become an empty answer.
      if (!seen.text && text.trim() === "") continue;
      seen.text = true;
      onText(text);
      continue;
    }
    return {
      text,
      usage: chunk.usage ?? { inputTokens: 0, outputTokens: 0 },
      model: chunk.model,
      provider: provider.name,
      finishReason: chunk.finishReason,
      ...(chunk.rateLimit ? { rateLimit: chunk.rateLimit } : {}),
    };
  }
  throw new ProviderError({ provider: provider.name, kind: "network", detail: "stream ended without its end" });
}

/**
 * A generous input-token estimate: ≈3 printable ASCII characters (or line breaks, tabs) per token, every other
 * character (UTF-16 unit) a token of its own (CJK text is about one token a character), plus per-message overhead.
 */
export function estimateInputTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((n, m) => n + estimateTextTokens(m.content) + 4, 0);
}

/** Tokens of a text, generously: 3 printable ASCII characters a token, any other character a token of its own. */
export function estimateTextTokens(text: string): number {
  const other = text.replace(/[ -~\t\n\r]+/g, "").length;
  return Math.ceil((text.length - other) / 3) + other;
}

interface State {
  tries: number;
  nextAt: number;
  done: boolean;
  last: ChainFailure | undefined;
}

/**
 * Walks `entries` for one turn.
 *
 * @example
 * const { response, decision } = await walkChain(entries, { messages, maxTokens: 300 }, { tier: "simple", deadlineAt: now() + 20_000 }, deps);
 */
export async function walkChain(
  entries: readonly ChainEntry[],
  req: RouteRequest,
  opts: WalkOptions,
  deps: ChainDeps,
): Promise<RouteResult> {
  const start = deps.now();
  const attempts: AttemptRecord[] = [];
  const states: State[] = entries.map(() => ({ tries: 0, nextAt: 0, done: false, last: undefined }));
  const inputTokens = estimateInputTokens(req.messages);
  const quotaTokens = inputTokens + req.maxTokens;
  const deadline = withTimeout(opts.signal, opts.deadlineAt - start, "the reply");
  const cancelled = () => opts.signal?.aborted === true;

  const skip = (e: ChainEntry, s: State, reason: SkipReason, retryAt?: number): undefined => {
    attempts.push({
      provider: e.name,
      model: e.model,
      outcome: "skipped",
      reason,
      at: deps.now() - start,
      latencyMs: 0,
    });
    s.last = { provider: e.name, reason, attempts: s.tries, ...(retryAt !== undefined ? { retryAt } : {}) };
    if (retryAt !== undefined && retryAt < opts.deadlineAt) s.nextAt = Math.max(retryAt, deps.now() + 1);
    else s.done = true;
    return undefined;
  };

  /** Settles a reservation with the budget and reports the charge (and the tokens it knows) to `onSettled`. */
  async function charge(e: ChainEntry, reservation: Reservation, actual: Usage | "reserved" | "none"): Promise<number> {
    const usd = await deps.budget.settle(reservation, actual);
    deps.onSettled?.(e.name, e.model, typeof actual === "object" ? { usd, usage: actual } : { usd });
    return usd;
  }

  async function call(
    e: ChainEntry,
    s: State,
    permit: BreakerPermit,
    reservation: Reservation,
  ): Promise<RouteResult | undefined> {
    s.tries++;
    const t0 = deps.now();
    // The provider's timeout bounds each wait: for its answer to start (or the whole answer, when it does not
    // stream) and, streaming, for each next chunk; the turn's deadline bounds the whole. Clipped to the deadline.
    let waitFrom = t0;
    const waitMs = () => Math.min(e.timeoutMs, opts.deadlineAt - waitFrom);
    const timer = withTimeout(deadline.signal, waitMs(), `${e.name} attempt`);
    const progress = () => {
      waitFrom = deps.now();
      timer.restart(waitMs());
    };
    // Stopped before the request could leave (the agent stopping while this took its slot and reservations):
    // nothing was sent, so nothing is charged.
    if (timer.signal.aborted) {
      timer.dispose();
      permit.release();
      await charge(e, reservation, "none");
      await deps.quota.settle(e.name, e.model, { takenTokens: quotaTokens, usedTokens: 0 });
      throw timer.signal.reason;
    }
    let response: ChatResponse;
    const seen = { text: false };
    /** What an answer without text reported it used: that much was billed. */
    let emptyUsage: ChatResponse["usage"] | undefined;
    try {
      const stream = e.provider.stream?.bind(e.provider);
      response = opts.onText && stream
        ? await readStream(e.provider, stream, { ...req, model: e.model }, timer.signal, opts.onText, seen, progress)
        : await e.provider.chat({ ...req, model: e.model }, { signal: timer.signal });
      if (response.text.trim() === "") {
        emptyUsage = response.usage;
        throw new ProviderError({ provider: e.name, kind: "empty", detail: `finish ${response.finishReason}` });
      }
    } catch (err) {
      if (!(err instanceof ProviderError)) {
        permit.release();
        await charge(e, reservation, "reserved");
        await deps.quota.settle(e.name, e.model, { takenTokens: quotaTokens, usedTokens: quotaTokens });
        throw err;
      }
      const failedAt = deps.now();
      // A cut by the turn's deadline (its own wait clipped to what the turn had left) is not the provider's fault.
      const cutByTurn = deadline.signal.aborted ||
        (err.kind === "timeout" && e.timeoutMs > opts.deadlineAt - waitFrom);
      if (err.tripsBreaker && !cutByTurn) permit.failure();
      else permit.release();
      // Billed, as far as we can tell, when the provider may have generated before the failure: a timeout (before we
      // hung up), a connection lost after the request left (reset before the answer), or any failure after it
      // accepted the call (a stream or body cut after its 2xx). An empty answer was billed what it reported. Charged
      // as reserved: the most the call could cost.
      const reported = emptyUsage && emptyUsage.inputTokens + emptyUsage.outputTokens > 0 ? emptyUsage : undefined;
      const billed = err.kind === "timeout" || err.kind === "empty" || (err.kind === "network" && !err.unsent) ||
        (err.status >= 200 && err.status < 300);
      await charge(e, reservation, reported ?? (billed ? "reserved" : "none"));
      // The provider's Retry-After keeps it out of later turns too: a 429's, and an overloaded one's (529, 503).
      const blockForMs = err.kind === "spend_limit"
        ? SPEND_LIMIT_BLOCK_MS
        : WAIT_KINDS.has(err.kind)
        ? err.retryAfterMs
        : undefined;
      await deps.quota.settle(e.name, e.model, {
        takenTokens: quotaTokens,
        usedTokens: reported ? reported.inputTokens + reported.outputTokens : billed ? quotaTokens : 0,
        rateLimit: err.rateLimit,
        blockForMs,
      });
      // When a later request may call it again: its block (timed from after the quota's, so never before that ends)
      // or its breaker's cooldown.
      const back = Math.max(
        blockForMs ? deps.now() + blockForMs : 0,
        e.breaker.state() === "open" ? e.breaker.retryAt() : 0,
      );
      if (err.needsOperator) {
        deps.log?.error("model provider needs an operator", {
          provider: e.name,
          kind: err.kind,
          status: err.status,
        });
      }
      const retry = err.retriable && s.tries < deps.retry.maxAttempts;
      const retryInMs = retry ? retryDelay(err, s.tries, deps.retry, deps.random) : undefined;
      attempts.push({
        provider: e.name,
        model: e.model,
        outcome: "error",
        reason: err.kind,
        status: err.status,
        at: t0 - start,
        latencyMs: failedAt - t0,
        ...(retryInMs !== undefined ? { retryInMs } : {}),
      });
      const code = err.code ? { code: err.code } : {};
      const retryAt = back > failedAt ? { retryAt: back } : {};
      s.last = { provider: e.name, reason: err.kind, status: err.status, ...code, attempts: s.tries, ...retryAt };
      if (seen.text && (opts.shown?.() ?? true)) {
        // Text of this provider may be on the user's screen: no other provider continues it.
        throw new StreamInterruptedError(opts.tier, [s.last], attempts);
      }
      // A retry the deadline does not reach is no retry: the providers after this one are then the last.
      if (retryInMs === undefined || failedAt + retryInMs >= opts.deadlineAt) s.done = true;
      else s.nextAt = failedAt + retryInMs;
      return undefined;
    } finally {
      timer.dispose();
    }
    permit.success();
    const usage = response.usage;
    const reported = usage.inputTokens + usage.outputTokens;
    // An answer that reports no usage (a server ignoring `include_usage`) is charged its reservation.
    const costUsd = await charge(e, reservation, reported > 0 ? usage : "reserved");
    await deps.quota.settle(e.name, e.model, {
      takenTokens: quotaTokens,
      usedTokens: reported > 0 ? reported : inputTokens + Math.ceil(response.text.length / 3),
      rateLimit: response.rateLimit,
    });
    const end = deps.now();
    attempts.push({ provider: e.name, model: e.model, outcome: "ok", at: t0 - start, latencyMs: end - t0 });
    const before = attempts.filter((a) => a.outcome !== "ok").map((a) => `${a.provider} ${a.reason}`);
    return {
      response,
      decision: {
        tier: opts.tier,
        provider: e.name,
        model: response.model,
        reason: before.length === 0 ? "first choice" : `fallback after ${before.join(", ")}`,
        latencyMs: end - start,
        tokens: usage,
        costUsd,
        attempts,
      },
    };
  }

  async function tryEntry(e: ChainEntry, s: State): Promise<RouteResult | undefined> {
    const permit = e.breaker.tryAcquire();
    if (!permit) return skip(e, s, "breaker_open", e.breaker.retryAt());
    let release: (() => void) | undefined;
    let reservation: Reservation | undefined;
    let called = false;
    try {
      try {
        // While another provider may take the turn, a slot is waited for up to the provider's timeout, and only as
        // long as the call that follows still has that whole timeout before the deadline: a slot granted later left
        // a call the deadline cut, and the providers after it were never asked. With none left, as long as the call
        // still has its timeout (at most half the time left): a provider that is only slow keeps answering queued
        // turns instead of their getting the notice.
        const fallback = entries.some((o, j) => o !== e && states[j] !== undefined && !states[j].done);
        const left = opts.deadlineAt - deps.now();
        const wait = fallback
          ? Math.min(e.timeoutMs, left - e.timeoutMs)
          : left - Math.min(e.timeoutMs, left / 2);
        release = await e.bulkhead.acquire(wait, deadline.signal);
      } catch (err) {
        if (cancelled()) throw err;
        return skip(e, s, "deadline");
      }
      if (!release) return skip(e, s, "bulkhead_full");
      reservation = await deps.budget.reserve(
        e.model,
        { inputTokens, maxOutputTokens: req.maxTokens },
        opts.tier,
        e.provider.kind === "llama-cpp",
      );
      if (!reservation) return skip(e, s, "budget");
      const q = await deps.quota.take(e.name, e.model, quotaTokens);
      if (!q.ok) return skip(e, s, "quota", q.retryAt);
      called = true;
      return await call(e, s, permit, reservation);
    } finally {
      if (!called) {
        permit.release();
        if (reservation) await charge(e, reservation, "none");
      }
      release?.();
    }
  }

  try {
    for (;;) {
      for (const [i, e] of entries.entries()) {
        const s = states[i];
        if (!s || s.done || s.nextAt > deps.now()) continue;
        if (deps.now() >= opts.deadlineAt || deadline.signal.aborted) break;
        const result = await tryEntry(e, s);
        if (result) return result;
      }
      if (cancelled()) throw opts.signal?.reason;
      const pending = states.filter((s) => !s.done);
      const wake = Math.min(...pending.map((s) => s.nextAt));
      if (pending.length === 0 || wake >= opts.deadlineAt || deps.now() >= opts.deadlineAt) break;
      try {
        await deps.sleep(Math.max(0, wake - deps.now()), deadline.signal);
      } catch (err) {
        if (cancelled()) throw err;
        break; // the deadline passed while waiting
      }
    }
    const failures = entries.map((e, i): ChainFailure =>
      states[i]?.last ?? { provider: e.name, reason: "deadline", attempts: states[i]?.tries ?? 0 }
    );
    throw new AllProvidersFailedError(opts.tier, failures, attempts);
  } finally {
    deadline.dispose();
  }
}

/** A provider of a chain as callers may see it (e.g. to predict a slow reply). */
export interface ChainProviderInfo {
  name: string;
  kind: ProviderKind;
  breaker: BreakerState;
}

/** The model router the orchestrator calls: classify a turn, walk its class's chain. */
export interface ModelRouter {
  classify(turn: TurnFacts): Classification;
  /**
   * Gets a reply for a turn: `tier` if given, else classified from `turn` (else "simple"). Throws
   * `AllProvidersFailedError` when no provider answered by the deadline, or the caller's abort reason.
   */
  route(input: RouteInput): Promise<RouteResult>;
  /**
   * `route()` reading providers that can stream chunk by chunk: `onText` gets the whole text so far. Same
   * guards (breaker, bulkhead, budget, quota, deadline, abort); fallback only before the first chunk, or while
   * `shown()` says none of the text went towards the user; after it a failure throws `StreamInterruptedError` (an
   * `AllProvidersFailedError`).
   */
  routeStream(input: RouteInput, onText: (text: string) => void, shown?: () => boolean): Promise<RouteResult>;
  /** The chain a turn of `tier` walks, in order. */
  providersFor(tier: Tier): ChainProviderInfo[];
  breakerStates(): Record<string, BreakerState>;
  readonly budget: Budget;
  readonly quota: Quota;
}

export interface RouteInput {
  request: RouteRequest;
  tier?: Tier;
  turn?: TurnFacts;
  /** Overrides the configured deadline (ms from now). */
  deadlineMs?: number;
  signal?: AbortSignal;
}

export interface ModelRouterDeps extends Omit<ChainDeps, "quota" | "budget" | "retry"> {
  client: Client;
  fetch: typeof fetch;
  env: Readonly<Record<string, string | undefined>>;
  /** Prebuilt entries (tests, benchmarks); default: built from the config. */
  entries?: Map<string, ChainEntry>;
}

/**
 * Each provider's chain entry (its client, breaker and bulkhead), breaker changes logged. Routers of one process
 * built on the same entries share each provider's limits (the orchestrator's bus turns and its OpenAI endpoint).
 */
export function createRouterEntries(
  settings: RouterSettings,
  deps: Pick<ModelRouterDeps, "fetch" | "now" | "env" | "log">,
): Map<string, ChainEntry> {
  return createChainEntries(settings.providers, settings.breaker, {
    fetch: deps.fetch,
    now: deps.now,
    env: deps.env,
    ...(deps.log
      ? {
        // Not `from`: the logger hashes a field of that name (a WhatsApp sender's phone number).
        onBreakerChange: (p: string, from: string, to: string) =>
          deps.log?.warn("breaker changed", { provider: p, previous: from, state: to }),
      }
      : {}),
  });
}

/**
 * Builds the router from resolved settings and makes sure every provider's quota row exists.
 *
 * @example
 * const router = await createModelRouter(resolveRouterSettings(config.router), { client, fetch, env, now: Date.now, random: Math.random, sleep });
 * const { response, decision } = await router.route({ request: { messages, maxTokens: 300 }, turn: { text } });
 */
export async function createModelRouter(
  settings: RouterSettings,
  deps: ModelRouterDeps,
): Promise<ModelRouter> {
  const quota = createQuota({ client: deps.client, now: deps.now });
  const budget = createBudget({ client: deps.client, config: settings.budget, now: deps.now });
  const entries = deps.entries ?? createRouterEntries(settings, deps);
  for (const [name, cfg] of Object.entries(settings.providers)) {
    await quota.ensure(name, cfg.model, cfg.limits);
  }
  const chainDeps: ChainDeps = { ...deps, quota, budget, retry: settings.retry };
  const chains = {} as Record<Tier, ChainEntry[]>;
  for (const tier of TIERS) {
    chains[tier] = settings.chains[tier].flatMap((name) => {
      const e = entries.get(name);
      return e ? [e] : [];
    });
  }
  const classify = (turn: TurnFacts) => classifyTurn(turn, settings.classify);
  return {
    classify,
    budget,
    quota,
    breakerStates: () => Object.fromEntries([...entries].map(([name, e]) => [name, e.breaker.state()])),
    route(input) {
      const tier = input.tier ?? (input.turn ? classify(input.turn).tier : "simple");
      const deadlineAt = deps.now() + (input.deadlineMs ?? settings.deadlineMs);
      return walkChain(chains[tier], input.request, { tier, deadlineAt, signal: input.signal }, chainDeps);
    },
    routeStream(input, onText, shown) {
      const tier = input.tier ?? (input.turn ? classify(input.turn).tier : "simple");
      const deadlineAt = deps.now() + (input.deadlineMs ?? settings.deadlineMs);
      const opts = { tier, deadlineAt, signal: input.signal, onText, shown };
      return walkChain(chains[tier], input.request, opts, chainDeps);
    },
    providersFor: (tier) =>
      chains[tier].map((e) => ({ name: e.name, kind: e.provider.kind, breaker: e.breaker.state() })),
  };
}
