/**
 * Anthropic's Messages API (`POST {baseUrl}/messages`, `x-api-key`, `anthropic-version: 2023-06-01`): system
 * prompt as a separate field, text content blocks, `usage.input_tokens/output_tokens`, typed error bodies
 * (`{"type":"error","error":{"type":"overloaded_error",...}}`, 529 overloaded), `anthropic-ratelimit-*` headers and
 * the streaming events `message_start`, `content_block_delta`, `message_delta`, `message_stop`, `error`.
 *
 * @module
 */
import { z } from "zod";
import { ProviderError, type ProviderErrorKind } from "../errors.ts";
import { type Endpoint, postJson, readErrorText, readJson, toHttpError, toTransportError } from "./http.ts";
import { anthropicRateLimit } from "./ratelimit.ts";
import { parseSseJson, readSse } from "./sse.ts";
import type {
  ChatChunk,
  ChatOptions,
  ChatProvider,
  ChatRequest,
  ChatResponse,
  FinishReason,
  ProviderDeps,
  Usage,
} from "./types.ts";

export const ANTHROPIC_BASE_URL = "https://api.anthropic.com/v1";
export const ANTHROPIC_VERSION = "2023-06-01";

const messageSchema = z.object({
  model: z.string().optional(),
  content: z.array(z.object({ type: z.string(), text: z.string().optional() })),
  stop_reason: z.string().nullable().optional(),
  usage: z.object({ input_tokens: z.number(), output_tokens: z.number() }),
});

const errorSchema = z.object({
  type: z.string().optional(),
  message: z.string().optional(),
  details: z.object({ error_code: z.string().optional() }).nullable().optional(),
});

const eventSchema = z.object({
  type: z.string(),
  message: z.object({
    model: z.string().optional(),
    usage: z.object({ input_tokens: z.number().optional(), output_tokens: z.number().optional() }).optional(),
  }).optional(),
  delta: z.object({
    type: z.string().optional(),
    text: z.string().optional(),
    stop_reason: z.string().nullable().optional(),
  })
    .optional(),
  usage: z.object({ output_tokens: z.number().optional(), input_tokens: z.number().nullable().optional() })
    .optional(),
  error: errorSchema.optional(),
});

export function toAnthropicFinish(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case "end_turn":
    case "stop_sequence":
      return "stop";
    // An answer stopped by the end of the context window is cut as one at max_tokens is (not cached as complete).
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      return "other";
  }
}

/** Anthropic's error type → kind. A spend limit arrives as a 400 ("usage limits") or a 429 with a detail code. */
export function kindOfAnthropicError(error: z.infer<typeof errorSchema>): ProviderErrorKind | undefined {
  if (error.details?.error_code === "enforced_spend_limit_reached") return "spend_limit";
  switch (error.type) {
    case "invalid_request_error":
      return /usage limits|spend limit|credit balance/i.test(error.message ?? "")
        ? "spend_limit"
        : "bad_request";
    case "authentication_error":
    case "permission_error":
      return "auth";
    case "billing_error":
      return "spend_limit";
    case "not_found_error":
    case "request_too_large":
      return "bad_request";
    case "rate_limit_error":
      return "rate_limit";
    case "overloaded_error":
      return "overloaded";
    case "api_error":
      return "server";
    case "timeout_error":
      return "timeout";
    default:
      return undefined;
  }
}

function hintOf(text: string): { kind?: ProviderErrorKind; message?: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return text.trim() ? { message: text } : {};
  }
  const parsed = z.object({ error: errorSchema }).safeParse(json);
  if (!parsed.success) return {};
  const kind = kindOfAnthropicError(parsed.data.error);
  const message = parsed.data.error.message;
  return { ...(kind ? { kind } : {}), ...(message ? { message } : {}) };
}

function toBody(req: ChatRequest, stream: boolean): Record<string, unknown> {
  const system = req.messages.filter((m) => m.role === "system").map((m) => m.content).join("\n\n");
  const dialogue = req.messages.filter((m) => m.role !== "system");
  // OpenAI takes any stop (`["\n"]` is common); Anthropic refuses (400) one that is empty or whitespace only.
  const stops = (req.stop ?? []).filter((s) => s.trim() !== "");
  return {
    model: req.model,
    max_tokens: req.maxTokens,
    ...(system ? { system } : {}),
    // Anthropic refuses (400) a message without text but for a final assistant one (an assistant turn of the OpenAI
    // endpoint may have none); consecutive user turns left behind are taken as one. A final assistant text (the
    // start of the answer) ending in whitespace is a 400 too ("cannot end with trailing whitespace"): trimmed.
    messages: dialogue
      .filter((m, i) => m.content.trim() !== "" || (i === dialogue.length - 1 && m.role === "assistant"))
      .map((m, i, kept) => ({
        role: m.role,
        content: i === kept.length - 1 && m.role === "assistant" ? m.content.trimEnd() : m.content,
      })),
    // Anthropic's range is 0-1 and above it a 400; the OpenAI endpoint takes OpenAI's 0-2. 1 is the most random.
    ...(req.temperature !== undefined ? { temperature: Math.min(req.temperature, 1) } : {}),
    ...(stops.length > 0 ? { stop_sequences: stops } : {}),
    ...(stream ? { stream: true } : {}),
  };
}

/**
 * A provider for Anthropic's Messages API.
 *
 * @example
 * const claude = createAnthropicProvider({ name: "claude", apiKey }, { fetch, now: Date.now });
 * const res = await claude.chat({ model: "claude-haiku-4-5", messages, maxTokens: 512 }, { signal });
 */
export function createAnthropicProvider(
  opts: { name: string; apiKey: string; baseUrl?: string | undefined },
  deps: ProviderDeps,
): ChatProvider {
  const ep: Endpoint = { provider: opts.name, secrets: [opts.apiKey], deps };
  const url = `${(opts.baseUrl ?? ANTHROPIC_BASE_URL).replace(/\/+$/, "")}/messages`;
  const headers = { "x-api-key": opts.apiKey, "anthropic-version": ANTHROPIC_VERSION };

  async function send(req: ChatRequest, stream: boolean, signal: AbortSignal): Promise<Response> {
    const res = await postJson(ep, url, headers, toBody(req, stream), signal);
    if (res.ok) return res;
    const text = await readErrorText(res);
    throw toHttpError(ep, res, hintOf(text), anthropicRateLimit(res.headers, deps.now()));
  }

  return {
    name: opts.name,
    kind: "anthropic",

    async chat(req: ChatRequest, { signal }: ChatOptions): Promise<ChatResponse> {
      const res = await send(req, false, signal);
      const parsed = messageSchema.safeParse(await readJson(ep, res, signal));
      if (!parsed.success) {
        throw new ProviderError({
          provider: opts.name,
          kind: "malformed",
          status: res.status,
          detail: "unexpected message shape",
        });
      }
      const m = parsed.data;
      const rateLimit = anthropicRateLimit(res.headers, deps.now());
      return {
        text: m.content.filter((b) => b.type === "text").map((b) => b.text ?? "").join(""),
        usage: { inputTokens: m.usage.input_tokens, outputTokens: m.usage.output_tokens },
        model: m.model ?? req.model,
        provider: opts.name,
        finishReason: toAnthropicFinish(m.stop_reason),
        ...(rateLimit ? { rateLimit } : {}),
      };
    },

    async *stream(req: ChatRequest, { signal }: ChatOptions): AsyncGenerator<ChatChunk> {
      const res = await send(req, true, signal);
      if (!res.body) {
        throw new ProviderError({
          provider: opts.name,
          kind: "malformed",
          status: res.status,
          detail: "no body",
        });
      }
      const rateLimit = anthropicRateLimit(res.headers, deps.now());
      let model = req.model;
      let finish: FinishReason | undefined;
      const usage: Usage = { inputTokens: 0, outputTokens: 0 };
      try {
        for await (const ev of readSse(res.body)) {
          const data = parseSseJson(ev.data, eventSchema, opts.name, res.status, "event");
          if (data.type === "message_start") {
            model = data.message?.model ?? model;
            usage.inputTokens = data.message?.usage?.input_tokens ?? 0;
            usage.outputTokens = data.message?.usage?.output_tokens ?? 0;
          } else if (
            data.type === "content_block_delta" && data.delta?.type === "text_delta" && data.delta.text
          ) {
            yield { type: "delta", text: data.delta.text };
          } else if (data.type === "message_delta") {
            finish = toAnthropicFinish(data.delta?.stop_reason);
            usage.outputTokens = data.usage?.output_tokens ?? usage.outputTokens;
            if (typeof data.usage?.input_tokens === "number") usage.inputTokens = data.usage.input_tokens;
          } else if (data.type === "message_stop") {
            yield {
              type: "end",
              finishReason: finish ?? "other",
              usage,
              model,
              ...(rateLimit ? { rateLimit } : {}),
            };
            return;
          } else if (data.type === "error") {
            const kind = data.error ? kindOfAnthropicError(data.error) : undefined;
            throw new ProviderError({
              provider: opts.name,
              kind: kind ?? "server",
              status: res.status,
              detail: "error event in the stream",
            });
          }
        }
      } catch (err) {
        throw toTransportError(ep, err, signal, res.status);
      }
      throw new ProviderError({
        provider: opts.name,
        kind: "network",
        status: res.status,
        detail: "stream ended before message_stop",
      });
    },
  };
}
