/**
 * The provider layer: builds each configured provider (with its breaker and bulkhead) from the router config.
 *
 * @module
 */
import { type BreakerState, createBreaker } from "../breaker.ts";
import type { BreakerConfig, ProviderConfig, ResolvedProvider } from "../config.ts";
import type { ChainEntry } from "../chain.ts";
import { createAnthropicProvider } from "./anthropic.ts";
import { createBulkhead } from "./bulkhead.ts";
import { createGroqProvider } from "./groq.ts";
import { createLlamaCppProvider } from "./llama-cpp.ts";
import { createOpenAICompatibleProvider } from "./openai-compatible.ts";
import type { ChatProvider, ProviderDeps } from "./types.ts";

export type * from "./types.ts";
export { createAnthropicProvider } from "./anthropic.ts";
export { createBulkhead } from "./bulkhead.ts";
export type { Bulkhead } from "./bulkhead.ts";
export { createGroqProvider } from "./groq.ts";
export { createLlamaCppProvider } from "./llama-cpp.ts";
export { createOpenAICompatibleProvider } from "./openai-compatible.ts";

/** Builds one provider from its config entry. Throws when a provider that needs a key has none. */
export function createProvider(
  name: string,
  cfg: ProviderConfig,
  apiKey: string | undefined,
  deps: ProviderDeps,
): ChatProvider {
  const needKey = () => {
    if (!apiKey) {
      throw new Error(
        `provider "${name}": its API key is not set (${cfg.apiKeyEnv ?? "no apiKeyEnv configured"})`,
      );
    }
    return apiKey;
  };
  // The config requires it for these kinds (router/config.ts); groq and anthropic default to their APIs.
  const serverUrl = () => {
    if (!cfg.baseUrl) throw new Error(`provider "${name}": baseUrl is required for kind ${cfg.kind}`);
    return cfg.baseUrl;
  };
  switch (cfg.kind) {
    case "groq":
      return createGroqProvider({ name, apiKey: needKey(), baseUrl: cfg.baseUrl }, deps);
    case "anthropic":
      return createAnthropicProvider({ name, apiKey: needKey(), baseUrl: cfg.baseUrl }, deps);
    case "llama-cpp":
      return createLlamaCppProvider({ name, baseUrl: serverUrl(), ...(apiKey ? { apiKey } : {}) }, deps);
    case "openai-compatible":
      return createOpenAICompatibleProvider(
        { name, baseUrl: serverUrl(), ...(apiKey ? { apiKey } : {}) },
        deps,
      );
  }
}

export interface EntryDeps extends ProviderDeps {
  env: Readonly<Record<string, string | undefined>>;
  onBreakerChange?: (provider: string, from: BreakerState, to: BreakerState) => void;
}

/** One chain entry (provider, breaker, bulkhead) per configured provider. */
export function createChainEntries(
  providers: Readonly<Record<string, ResolvedProvider>>,
  breaker: BreakerConfig,
  deps: EntryDeps,
): Map<string, ChainEntry> {
  const entries = new Map<string, ChainEntry>();
  for (const [name, cfg] of Object.entries(providers)) {
    const apiKey = cfg.apiKeyEnv ? deps.env[cfg.apiKeyEnv] : undefined;
    entries.set(name, {
      name,
      provider: createProvider(name, cfg, apiKey, deps),
      model: cfg.model,
      timeoutMs: cfg.timeoutMs,
      breaker: createBreaker({
        ...breaker,
        now: deps.now,
        ...(deps.onBreakerChange ? { onChange: (from, to) => deps.onBreakerChange?.(name, from, to) } : {}),
      }),
      bulkhead: createBulkhead(cfg.maxConcurrent),
    });
  }
  return entries;
}
