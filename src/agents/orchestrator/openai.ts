/**
 * An OpenAI-compatible endpoint on the orchestrator (`POST /v1/chat/completions`, `GET /v1/models`), so any
 * OpenAI client on the VM uses the same router, cache, quotas and budgets. Model names pick a route:
 * `auto` (classified like a chat turn), `fast` (the simple chain), `smart` (the complex chain), `local` (only
 * llama.cpp providers). Bearer-key auth with the key named by the orchestrator's `apiKeyEnv`.
 *
 * Streaming (`stream: true`) answers in the SSE chunk format; the reply is produced by the router first and then
 * sent sentence by sentence (token-level pass-through is the conversation-experience issue's work).
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { Config } from "../../config.ts";
import { M } from "../../metrics/names.ts";
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/registry.ts";
import { cacheScope, type ResponseCache } from "../../router/cache.ts";
import { estimateTextTokens, type ModelRouter } from "../../router/chain.ts";
import type { Tier } from "../../router/config.ts";
import { AllProvidersFailedError, type ChainFailure } from "../../router/errors.ts";

export const MODELS = ["auto", "fast", "smart", "local"] as const;
type ModelName = (typeof MODELS)[number];

const partSchema = z.object({ type: z.string(), text: z.string().optional(), refusal: z.string().optional() });
const contentSchema = z.union([z.string(), z.null(), z.array(partSchema)])
  .superRefine((content, ctx) => {
    // Refused rather than dropped: the model would answer a question without the image it was about. A refusal is
    // an earlier assistant turn's text, as a client sends its history back.
    const other = Array.isArray(content) ? content.find((p) => p.type !== "text" && p.type !== "refusal") : undefined;
    if (other) ctx.addIssue({ code: "custom", message: `content parts of type ${other.type} are not supported (text only)` });
  })
  // null: an assistant turn without text. Parts are separate texts (an instruction, then its input), joined as vLLM
  // joins them: glued, "Translate to French:" + "Hello" would read "French:Hello".
  .transform((content) =>
    typeof content === "string" ? content : (content ?? []).map((p) => p.text ?? p.refusal ?? "").join("\n")
  );

/** OpenAI documents these parameters as nullable (the Python SDK sends `null` for None): null is absent. */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

const requestSchema = z.object({
  model: z.string(),
  messages: z.array(z.object({
    role: z.enum(["system", "developer", "user", "assistant"]),
    content: contentSchema,
    // Tells participants of one role apart (a group's transcript): passed on in the text, as providers have no field.
    name: optional(z.string()),
  })).min(1),
  max_tokens: optional(z.number().int().positive()),
  max_completion_tokens: optional(z.number().int().positive()),
  temperature: optional(z.number().min(0).max(2)),
  stop: optional(z.union([z.string(), z.array(z.string())])),
  stream: optional(z.boolean()),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  // Refused rather than ignored: a client that asked for them would take a plain answer for what it asked.
  n: z.number().int().refine((n) => n === 1, "only n = 1 is supported").nullish(),
  tools: z.array(z.unknown()).max(0, "tools (function calling) are not supported").nullish(),
  functions: z.array(z.unknown()).max(0, "functions (function calling) are not supported").nullish(),
  response_format: z.object({ type: z.string() }).superRefine((f, ctx) => {
    if (f.type !== "text") ctx.addIssue({ code: "custom", message: `response_format ${f.type} is not supported (text only)` });
  }).nullish(),
  logprobs: z.boolean().refine((v) => !v, "logprobs are not supported").nullish(),
  top_logprobs: z.number().int().max(0, "logprobs are not supported").nullish(),
});

export interface OpenAiDeps {
  router: ModelRouter | undefined;
  localRouter: ModelRouter | undefined;
  cache: ResponseCache | undefined;
  config: Config;
  apiKey: string | undefined;
  now: () => number;
  metrics: Metrics;
  log: Logger;
}

/** A request body larger than this is refused (413) before it is read: a prompt of megabytes would cost the
 * orchestrator as many megabytes of memory per request, and no model's context holds it. */
export const MAX_BODY_BYTES = 1024 * 1024;

function openAiError(c: Context, status: 400 | 401 | 404 | 413 | 503, message: string, type: string, code: string) {
  return c.json({ error: { message, type, param: null, code } }, status);
}

/** A 503's Retry-After when no failed provider said when it is back. */
const DEFAULT_RETRY_S = 10;
/** Past this a client's retry loop is the wrong tool (the SDK sleeps as long as it is told): it is told not to. */
const MAX_RETRY_S = 60;
/** Failures that no wait mends: an operator must act (key, credit, today's budget, a model gone) or the request change. */
const LASTING: ReadonlySet<string> = new Set(["auth", "spend_limit", "budget", "bad_request"]);

/**
 * When the caller of a 503 may come back: when the first provider is back as the router knows it (its Retry-After,
 * quota or breaker cooldown), else `DEFAULT_RETRY_S` after a failure that may pass. `retry` is false when waiting
 * cannot help soon: every provider needs an operator, or the first back is over `MAX_RETRY_S` away.
 */
function retryAdvice(failures: readonly ChainFailure[], now: number): { seconds: number; retry: boolean } {
  const back = failures.flatMap((f) =>
    f.retryAt !== undefined ? [f.retryAt] : LASTING.has(f.reason) ? [] : [now + DEFAULT_RETRY_S * 1000]
  );
  if (back.length === 0) return { seconds: DEFAULT_RETRY_S, retry: false };
  const seconds = Math.max(1, Math.ceil((Math.min(...back) - now) / 1000));
  return { seconds, retry: seconds <= MAX_RETRY_S };
}

/** Constant-time comparison of two strings (a bearer key must not leak through timing). */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Splits a reply into sentence-sized pieces for streaming: each ends after `.`, `!` or `?` and the spaces after it,
 * or after a newline. Each match starts where the last ended and the last alternative takes the rest, so the pieces
 * joined are the text; ".NET", "3.5" and a leading ellipsis are not cut.
 */
function pieces(text: string): string[] {
  return text.match(/.*?(?:[.!?]+\s+|\n\s*)|.+/gs) ?? [text];
}

export function openAiRoutes(app: Hono, deps: OpenAiDeps): void {
  const { config, now } = deps;

  app.use("/v1/*", async (c, next) => {
    if (!deps.apiKey) {
      return openAiError(c, 401, "the OpenAI-compatible endpoint is off: set apiKeyEnv on the orchestrator agent", "invalid_request_error", "endpoint_disabled");
    }
    // The scheme is case-insensitive (RFC 9110 11.1).
    const key = /^bearer +(.*)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
    if (!sameSecret(key, deps.apiKey)) return openAiError(c, 401, "invalid API key", "invalid_request_error", "invalid_api_key");
    await next();
  });

  // Only the models a completion can be routed for: a model picker offers none that is always refused. (An unrouted
  // model still serves what an earlier config cached: not worth listing a model every other request fails.)
  const available = MODELS.filter((m) => (m === "local" ? deps.localRouter : deps.router) !== undefined);
  const modelObject = (id: string) => ({ id, object: "model", created: 0, owned_by: "aideazz" });
  const unknownModel = (c: Context, model: string) => {
    const choice = available.length > 0 ? `use one of ${available.join(", ")}` : "no provider is configured";
    return openAiError(c, 404, `The model \`${model}\` does not exist; ${choice}`, "invalid_request_error", "model_not_found");
  };
  // Permanent until the config changes: not a 503, which clients retry.
  const notAvailable = (c: Context, model: string) => {
    const which = model === "local" ? "no llama-cpp provider" : "no provider";
    return openAiError(c, 404, `model ${model}: ${which} is configured (router.providers)`, "invalid_request_error", "model_not_available");
  };
  app.get("/v1/models", (c) => c.json({ object: "list", data: available.map(modelObject) }));
  app.get("/v1/models/:id", (c) => {
    const id = c.req.param("id");
    if ((available as readonly string[]).includes(id)) return c.json(modelObject(id));
    return (MODELS as readonly string[]).includes(id) ? notAvailable(c, id) : unknownModel(c, id);
  });

  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      openAiError(c, 413, `the request body is over ${MAX_BODY_BYTES} bytes`, "invalid_request_error", "request_too_large"),
  });
  app.post("/v1/chat/completions", limit, async (c) => {
    let body: z.infer<typeof requestSchema>;
    try {
      const parsed = requestSchema.safeParse(await c.req.json());
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return openAiError(c, 400, `${issue.path.join(".")}: ${issue.message}`, "invalid_request_error", "invalid_body");
      }
      body = parsed.data;
    } catch {
      return openAiError(c, 400, "the body is not valid JSON", "invalid_request_error", "invalid_json");
    }
    if (!(MODELS as readonly string[]).includes(body.model)) return unknownModel(c, body.model);
    const model = body.model as ModelName;
    const router = model === "local" ? deps.localRouter : deps.router;
    const messages = body.messages.map((m) => ({
      role: m.role === "developer" ? "system" as const : m.role,
      content: m.name ? `${m.name}: ${m.content}` : m.content,
    }));
    const system = messages.filter((m) => m.role === "system").map((m) => m.content).join("\n");
    const dialogue = messages.filter((m) => m.role !== "system");
    const last = dialogue.at(-1);
    const contextFree = dialogue.length === 1 && last?.role === "user";
    // The cache serves a question's answer to every caller of the same system prompt and model: not an answer a
    // caller's own `stop` sequences cut short. Only the same question (the exact tier, verbatim): the lexical and
    // semantic tiers take a support question for another worded alike, and an API caller's "The food was terrible"
    // is not "The food was great"; nor, for a translation or a classification, is "Close the door." "Please close
    // the door", which `normalizeText` reads alike.
    const cacheable = contextFree && deps.cache && config.cache.enabled && model !== "local" && body.stop === undefined;
    const scope = cacheable ? cacheScope(`api:${model}`, system) : undefined;

    let text: string | undefined;
    let usage = { prompt_tokens: 0, completion_tokens: 0 };
    let finish = "stop";
    let served = model as string;
    if (scope && deps.cache && last) {
      const found = await deps.cache.lookupExact(scope, last.content, true);
      // Not served to a caller whose max_tokens the stored answer would not fit.
      const limit = body.max_completion_tokens ?? body.max_tokens;
      const hit = found && (limit === undefined || estimateTextTokens(found.answer) <= limit) ? found : undefined;
      deps.metrics.inc(M.cacheLookups, { result: hit ? "hit" : "miss" });
      if (hit) {
        text = hit.answer;
        served = `${model}:cache`;
      }
    }
    if (text === undefined) {
      if (!router) return notAvailable(c, model);
      const tier: Tier | undefined = model === "fast" ? "simple" : model === "smart" ? "complex" : undefined;
      try {
        const { response, decision } = await router.route({
          request: {
            messages,
            maxTokens: body.max_completion_tokens ?? body.max_tokens ?? config.conversation.maxReplyTokens,
            ...(body.temperature === undefined ? {} : { temperature: body.temperature }),
            ...(body.stop === undefined ? {} : { stop: typeof body.stop === "string" ? [body.stop] : body.stop }),
          },
          ...(tier ? { tier } : { turn: { text: last?.content ?? "", role: "api" } }),
          signal: c.req.raw.signal,
        });
        text = response.text;
        usage = { prompt_tokens: decision.tokens.inputTokens, completion_tokens: decision.tokens.outputTokens };
        finish = response.finishReason === "length" || response.finishReason === "content_filter"
          ? response.finishReason
          : "stop";
        served = `${model}:${decision.provider}`;
        // Only a whole answer is cached: not one cut at max_tokens, refused or filtered, or ended otherwise.
        if (scope && deps.cache && last && response.finishReason === "stop") {
          // The answer is paid for: a cache that cannot store it does not cost the caller it.
          const meta = { provider: decision.provider, model: decision.model, verbatim: true };
          await deps.cache.store(scope, last.content, text, meta)
            .catch((err) => deps.log.warn("cache store failed", { err }));
        }
      } catch (err) {
        if (!(err instanceof AllProvidersFailedError)) throw err;
        // The request is the caller's to change (e.g. over the context window): a 503 would have the SDK send it
        // again, each time a provider call and an operator alert. Not a model the provider no longer has: that is
        // the operator's config, a 503 (not retried) below.
        if (err.requestRefused) {
          const code = err.failures.find((f) => f.code)?.code ?? "invalid_request";
          return openAiError(c, 400, err.message, "invalid_request_error", code);
        }
        // A retry before a provider is back is refused again; one that only an operator can bring back (a key,
        // credit, the day's budget, a model) would only alert again.
        const advice = retryAdvice(err.failures, now());
        c.header("Retry-After", String(advice.seconds));
        if (!advice.retry) c.header("x-should-retry", "false");
        return openAiError(c, 503, err.message, "server_error", "providers_unavailable");
      }
    }
    const id = `chatcmpl-${crypto.randomUUID()}`;
    const created = Math.floor(now() / 1000);
    c.header("x-aideazz-route", served);
    const fullUsage = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
    if (!body.stream) {
      return c.json({
        id,
        object: "chat.completion",
        created,
        model,
        choices: [{ index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: finish }],
        usage: fullUsage,
      });
    }
    const reply = text;
    return streamSSE(c, async (stream) => {
      const chunk = (delta: Record<string, string>, finishReason: string | null) =>
        stream.writeSSE({
          data: JSON.stringify({
            id, object: "chat.completion.chunk", created, model,
            choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
          }),
        });
      await chunk({ role: "assistant", content: "" }, null);
      for (const piece of pieces(reply)) await chunk({ content: piece }, null);
      await chunk({}, finish);
      if (body.stream_options?.include_usage) {
        // As OpenAI: one more chunk, with no choices and the request's usage.
        await stream.writeSSE({
          data: JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage: fullUsage }),
        });
      }
      await stream.writeSSE({ data: "[DONE]" });
    });
  });
}
