/**
 * A local `llama-server` (llama.cpp) through its OpenAI-compatible API. It answers 503 while it loads the model:
 * that maps to the retriable `overloaded` kind, so the router waits or falls back instead of giving up. Usually no
 * key (it listens on loopback); one can be set with `--api-key`.
 *
 * @module
 */
import { createOpenAICompatibleProvider } from "./openai-compatible.ts";
import type { ChatProvider, ProviderDeps } from "./types.ts";

export function createLlamaCppProvider(
  opts: { name: string; baseUrl: string; apiKey?: string },
  deps: ProviderDeps,
): ChatProvider {
  return createOpenAICompatibleProvider({
    name: opts.name,
    kind: "llama-cpp",
    baseUrl: opts.baseUrl,
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
  }, deps);
}
