/** Builds a ModelRouter over fake providers with a store, a clock and a captured log, from a config object. */
import { createBreaker } from "../../../src/router/breaker.ts";
import { type ChainEntry, createModelRouter, type ModelRouter, type ModelRouterDeps } from "../../../src/router/chain.ts";
import { resolveRouterSettings, routerSchema } from "../../../src/router/config.ts";
import { createBulkhead } from "../../../src/router/providers/bulkhead.ts";
import type { ChatProvider } from "../../../src/router/providers/types.ts";
import { sleep as realSleep } from "../../../src/router/retry.ts";
import { type CapturedLog, captureLog, type TestStore } from "./support.ts";

export const KEYS = {
  GROQ_API_KEY: "gsk_harness_key_0123456789",
  ANTHROPIC_API_KEY: "sk-ant-harness-key-0123456789",
};

export interface Harness {
  router: ModelRouter;
  log: CapturedLog;
  /** `now()` of the router at each HTTP request it sent, by URL origin. */
  sentAt: Map<string, number[]>;
  /** USD of every call as the router reported it settled (`onSettled`: what the spend counter adds up). */
  charged(): number;
}

export interface HarnessOptions {
  store: TestStore;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
  entries?: ModelRouterDeps["entries"];
}

/** `config` is the `router` section of the config file (validated by the real schema). */
export async function harness(config: unknown, opts: HarnessOptions): Promise<Harness> {
  const now = opts.now ?? Date.now;
  const log = captureLog();
  const sentAt = new Map<string, number[]>();
  const fetch: typeof globalThis.fetch = (input, init) => {
    const origin =
      new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url).origin;
    sentAt.set(origin, [...(sentAt.get(origin) ?? []), now()]);
    return globalThis.fetch(input, init);
  };
  const settings = resolveRouterSettings(routerSchema.parse(config));
  let charged = 0;
  const router = await createModelRouter(settings, {
    onSettled: (_provider, _model, { usd }) => void (charged += usd),
    client: opts.store.store.client,
    fetch,
    env: KEYS,
    now,
    random: opts.random ?? Math.random,
    sleep: opts.sleep ?? realSleep,
    log,
    ...(opts.entries ? { entries: opts.entries } : {}),
  });
  return { router, log, sentAt, charged: () => charged };
}

export const ask = (text = "What are your opening hours?") => ({
  request: {
    messages: [{ role: "system" as const, content: "You are helpful." }, {
      role: "user" as const,
      content: text,
    }],
    maxTokens: 200,
  },
});

/** A chain entry around a provider written in the test (model "m", breaker open after one failure). */
export const stubEntry = (provider: ChatProvider, now: () => number = Date.now): ChainEntry => ({
  name: provider.name,
  provider,
  model: "m",
  timeoutMs: 1_000,
  breaker: createBreaker({ failureThreshold: 1, windowMs: 60_000, cooldownMs: 60_000, now }),
  bulkhead: createBulkhead(1),
});
