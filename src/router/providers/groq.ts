/**
 * Groq: OpenAI-compatible, with its own rate-limit header semantics. Its `x-ratelimit-*-requests` headers count
 * requests per DAY and its `x-ratelimit-*-tokens` headers tokens per MINUTE (console.groq.com/docs/rate-limits);
 * requests per minute are not reported at all, which is why the router keeps its own proactive quota.
 *
 * @module
 */
import { createOpenAICompatibleProvider } from "./openai-compatible.ts";
import type { ChatProvider, ProviderDeps } from "./types.ts";

export const GROQ_BASE_URL = "https://api.groq.com/openai/v1";

export function createGroqProvider(
  opts: { name: string; apiKey: string; baseUrl?: string | undefined },
  deps: ProviderDeps,
): ChatProvider {
  return createOpenAICompatibleProvider({
    name: opts.name,
    kind: "groq",
    baseUrl: opts.baseUrl ?? GROQ_BASE_URL,
    apiKey: opts.apiKey,
    headerPeriods: { requests: "day", tokens: "minute" },
    streamUsage: false,
  }, deps);
}
