/**
 * The one contract every model provider implements (Groq, llama.cpp, any OpenAI-compatible server, Anthropic),
 * and the normalised request, response and rate-limit shapes the router reasons about.
 *
 * @module
 */

export type Role = "system" | "user" | "assistant";

export interface ChatMessage {
  role: Role;
  content: string;
}

export interface ChatRequest {
  messages: readonly ChatMessage[];
  /** Model name sent to the provider. */
  model: string;
  /** Upper bound of generated tokens; also what a budget reservation prices. */
  maxTokens: number;
  temperature?: number;
  stop?: readonly string[];
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export type FinishReason = "stop" | "length" | "content_filter" | "tool_calls" | "other";

/** One rate-limit window a provider reported in its response headers. */
export interface RateLimitWindow {
  unit: "requests" | "tokens" | "input_tokens" | "output_tokens";
  /** Which window the numbers describe (Groq's `*-requests` headers are per day, its `*-tokens` per minute). */
  period: "minute" | "day";
  limit?: number;
  remaining?: number;
  /** Epoch ms when the window is full again. */
  resetAt?: number;
}

export interface RateLimitInfo {
  windows: RateLimitWindow[];
  /** From `retry-after` / `retry-after-ms` (429 and 529 answers). */
  retryAfterMs?: number;
}

export interface ChatResponse {
  text: string;
  usage: Usage;
  /** Model that answered, as the provider names it. */
  model: string;
  /** Config name of the provider. */
  provider: string;
  finishReason: FinishReason;
  rateLimit?: RateLimitInfo;
}

export type ChatChunk =
  | { type: "delta"; text: string }
  | { type: "end"; finishReason: FinishReason; usage?: Usage; model: string; rateLimit?: RateLimitInfo };

export type ProviderKind = "groq" | "anthropic" | "llama-cpp" | "openai-compatible";

export interface ChatOptions {
  /** Aborting it aborts the HTTP request. A `TimeoutError` reason becomes a `ProviderError` of kind `timeout`. */
  signal: AbortSignal;
}

export interface ChatProvider {
  /** Config name, e.g. `groq-fast`. */
  readonly name: string;
  readonly kind: ProviderKind;
  chat(req: ChatRequest, opts: ChatOptions): Promise<ChatResponse>;
  stream?(req: ChatRequest, opts: ChatOptions): AsyncIterable<ChatChunk>;
}

/** What providers need from the world; injected so tests can use fakes and fixed clocks. */
export interface ProviderDeps {
  fetch: typeof fetch;
  now: () => number;
}
