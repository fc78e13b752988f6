/**
 * The OpenAI chat-completions wire format (`POST {baseUrl}/chat/completions`), shared by Groq, llama.cpp's
 * `llama-server` and any other compatible server: request translation, usage, `x-ratelimit-*` headers, error
 * bodies (`{"error":{"message","type","code"}}`) and SSE streaming (`data: {...}` chunks, `data: [DONE]`).
 *
 * @module
 */
import { z } from "zod";
import { kindOfStatus, ProviderError, type ProviderErrorKind } from "../errors.ts";
import { type Endpoint, postJson, readErrorText, readJson, toHttpError, toTransportError } from "./http.ts";
import { type OpenAIHeaderPeriods, openAIRateLimit } from "./ratelimit.ts";
import { parseSseJson, readSse } from "./sse.ts";
import type {
  ChatChunk,
  ChatMessage,
  ChatOptions,
  ChatProvider,
  ChatRequest,
  ChatResponse,
  FinishReason,
  ProviderDeps,
  ProviderKind,
  RateLimitInfo,
  Usage,
} from "./types.ts";

export interface OpenAICompatibleOptions {
  /** Config name of the provider. */
  name: string;
  kind?: ProviderKind;
  /** Up to and including the version segment, e.g. `https://api.groq.com/openai/v1`. */
  baseUrl: string;
  apiKey?: string;
  /** Which windows the `x-ratelimit-*` header families describe (default: both per minute, as OpenAI). */
  headerPeriods?: OpenAIHeaderPeriods;
  /**
   * Ask for usage in a stream's last chunk with `stream_options.include_usage` (OpenAI, llama-server). Default
   * true; Groq reports a stream's usage in `x_groq.usage` without being asked.
   */
  streamUsage?: boolean;
}

const usageSchema = z.object({ prompt_tokens: z.number(), completion_tokens: z.number() });

const completionSchema = z.object({
  model: z.string().optional(),
  choices: z.array(z.object({
    message: z.object({ content: z.string().nullable().optional() }),
    finish_reason: z.string().nullable().optional(),
  })).min(1),
  usage: usageSchema.optional(),
});

const chunkSchema = z.object({
  model: z.string().optional(),
  choices: z.array(z.object({
    delta: z.object({ content: z.string().nullable().optional() }).optional(),
    finish_reason: z.string().nullable().optional(),
  })).optional(),
  usage: usageSchema.nullable().optional(),
  // Groq puts the usage of a stream in its last chunk under `x_groq`.
  x_groq: z.object({ usage: usageSchema.optional() }).optional(),
  // llama-server reports token counts as `timings` even when usage was not asked for.
  timings: z.object({ prompt_n: z.number(), predicted_n: z.number() }).optional(),
  error: z.object({ message: z.string().optional(), code: z.unknown().optional() }).optional(),
});

/**
 * The kind of an error reported mid-stream (`data: {"error": …}`, or an old llama-server's `error: {…}` line) by its
 * HTTP-like code: a prompt over the context is a bad request (not retried, no breaker), one without a code a server
 * fault.
 */
function streamErrorKind(code: unknown): ProviderErrorKind {
  return typeof code === "number" ? kindOfStatus(code) : "server";
}

/** The `code` of an old llama-server's `error:` line, when it is JSON that has one. */
function errorLineCode(data: string): unknown {
  try {
    return (JSON.parse(data) as { code?: unknown } | null)?.code;
  } catch {
    return undefined;
  }
}

const errorBodySchema = z.object({
  error: z.object({
    message: z.string().optional(),
    type: z.string().nullable().optional(),
    code: z.union([z.string(), z.number()]).nullable().optional(),
  }),
});

export function toFinishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case "stop":
    case "eos":
      return "stop";
    case "length":
      return "length";
    case "content_filter":
      return "content_filter";
    case "tool_calls":
    case "function_call":
      return "tool_calls";
    default:
      return "other";
  }
}

function toUsage(u: z.infer<typeof usageSchema> | null | undefined): Usage | undefined {
  return u ? { inputTokens: u.prompt_tokens, outputTokens: u.completion_tokens } : undefined;
}

/** The error kind an OpenAI-style error body implies beyond its status (an exhausted account is not a 429). */
function hintOf(text: string): { kind?: ProviderErrorKind; message?: string; code?: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return text.trim() ? { message: text } : {};
  }
  const parsed = errorBodySchema.safeParse(json);
  if (!parsed.success) return {};
  const { message, code, type } = parsed.data.error;
  const spend = code === "insufficient_quota" || type === "insufficient_quota";
  return {
    ...(spend ? { kind: "spend_limit" as const } : {}),
    ...(message ? { message } : {}),
    ...(typeof code === "string" ? { code } : {}), // llama-server's numeric code is only the status again
  };
}

/**
 * The dialogue as the chat templates of common local models (Gemma 3, Mistral) take it: one system message first,
 * then turns alternating user/assistant from a user's; llama-server answers 400 to anything else. Every system
 * message (a leads role's known fields, a re-ask's instruction) is merged into the first, and so are consecutive
 * turns of one speaker (a paused chat's messages, an operator's replies), blank line between; an answer whose
 * question the history's trimming left out is dropped.
 */
function alternating(messages: readonly ChatMessage[]): ChatMessage[] {
  const system = messages.filter((m) => m.role === "system");
  const out: ChatMessage[] = system.length === 0
    ? []
    : [{ role: "system", content: system.map((m) => m.content).join("\n\n") }];
  for (const m of messages) {
    if (m.role === "system") continue;
    const last = out.at(-1);
    if (last?.role === m.role) out[out.length - 1] = { role: m.role, content: `${last.content}\n\n${m.content}` };
    else if (m.role === "user" || last?.role === "user") out.push(m);
  }
  return out;
}

function toBody(req: ChatRequest, stream: boolean, opts: OpenAICompatibleOptions): Record<string, unknown> {
  const messages = opts.kind === "llama-cpp" ? alternating(req.messages) : req.messages;
  const streamUsage = opts.streamUsage ?? true;
  return {
    model: req.model,
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    max_tokens: req.maxTokens,
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    ...(req.stop && req.stop.length > 0 ? { stop: [...req.stop] } : {}),
    stream,
    ...(stream && streamUsage ? { stream_options: { include_usage: true } } : {}),
  };
}

/**
 * A provider speaking the OpenAI chat-completions protocol.
 *
 * @example
 * const groq = createOpenAICompatibleProvider({ name: "groq", baseUrl: "https://api.groq.com/openai/v1", apiKey }, { fetch, now: Date.now });
 * const res = await groq.chat({ model: "llama-3.1-8b-instant", messages, maxTokens: 256 }, { signal });
 */
export function createOpenAICompatibleProvider(
  opts: OpenAICompatibleOptions,
  deps: ProviderDeps,
): ChatProvider {
  const ep: Endpoint = { provider: opts.name, secrets: opts.apiKey ? [opts.apiKey] : [], deps };
  const url = `${opts.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const headers: Record<string, string> = opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {};
  const periods = opts.headerPeriods ?? { requests: "minute", tokens: "minute" };
  const rateLimitOf = (res: Response): RateLimitInfo | undefined =>
    openAIRateLimit(res.headers, deps.now(), periods);

  async function send(req: ChatRequest, stream: boolean, signal: AbortSignal): Promise<Response> {
    const res = await postJson(ep, url, headers, toBody(req, stream, opts), signal);
    if (res.ok) return res;
    const text = await readErrorText(res);
    throw toHttpError(ep, res, hintOf(text), rateLimitOf(res));
  }

  return {
    name: opts.name,
    kind: opts.kind ?? "openai-compatible",

    async chat(req: ChatRequest, { signal }: ChatOptions): Promise<ChatResponse> {
      const res = await send(req, false, signal);
      const parsed = completionSchema.safeParse(await readJson(ep, res, signal));
      if (!parsed.success) {
        throw new ProviderError({
          provider: opts.name,
          kind: "malformed",
          status: res.status,
          detail: "unexpected completion shape",
        });
      }
      const choice = parsed.data.choices[0];
      const rateLimit = rateLimitOf(res);
      return {
        text: choice?.message.content ?? "",
        usage: toUsage(parsed.data.usage) ?? { inputTokens: 0, outputTokens: 0 },
        model: parsed.data.model ?? req.model,
        provider: opts.name,
        finishReason: toFinishReason(choice?.finish_reason),
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
      const rateLimit = rateLimitOf(res);
      let model = req.model;
      let finish: FinishReason | undefined;
      let usage: Usage | undefined;
      const end = (): ChatChunk => ({
        type: "end",
        finishReason: finish ?? "other",
        model,
        ...(usage ? { usage } : {}),
        ...(rateLimit ? { rateLimit } : {}),
      });
      try {
        for await (const ev of readSse(res.body)) {
          if (ev.data.trim() === "[DONE]") {
            yield end();
            return;
          }
          const chunk = ev.event === "error"
            ? { error: { code: errorLineCode(ev.data) } }
            : parseSseJson(ev.data, chunkSchema, opts.name, res.status, "stream chunk");
          if (chunk.error) {
            throw new ProviderError({
              provider: opts.name,
              kind: streamErrorKind(chunk.error.code),
              status: res.status,
              detail: "error inside the stream",
            });
          }
          if (chunk.model) model = chunk.model;
          const timings = chunk.timings;
          usage = toUsage(chunk.usage) ?? toUsage(chunk.x_groq?.usage) ??
            (timings ? { inputTokens: timings.prompt_n, outputTokens: timings.predicted_n } : undefined) ??
            usage;
          const choice = chunk.choices?.[0];
          if (choice?.finish_reason) finish = toFinishReason(choice.finish_reason);
          const text = choice?.delta?.content;
          if (text) yield { type: "delta", text };
        }
      } catch (err) {
        throw toTransportError(ep, err, signal, res.status);
      }
      if (finish === undefined) {
        throw new ProviderError({
          provider: opts.name,
          kind: "network",
          status: res.status,
          detail: "stream ended early",
        });
      }
      yield end();
    },
  };
}
