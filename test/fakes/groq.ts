/**
 * A fake Groq (and, with `prefix: "/v1"`, any OpenAI-compatible server, e.g. llama-server) as a real HTTP server
 * on 127.0.0.1, following Groq's documented wire format: `POST {prefix}/chat/completions`, Bearer key, a
 * `chat.completion` body with `usage`, `x-ratelimit-*` headers on every answer (requests per DAY, tokens per
 * MINUTE, Go-style reset durations), its own requests-per-minute enforcement (a bucket refilled continuously, as
 * Groq's "time until fully replenished" reset headers describe) answering 429 + `retry-after` with
 * `{"error":{"message","type":"requests"|"tokens","code":"rate_limit_exceeded"}}`, SSE streams ending with
 * `data: [DONE]` (usage in `x_groq.usage`), and scripted failure modes per request.
 */
import type { ServerResponse } from "node:http";
import {
  goDuration,
  type RecordedRequest,
  type RecordingServer,
  sse,
  startRecordingServer,
} from "../router/providers/recording-server.ts";

export type GroqMode =
  /** `usage: false`: the answer reports no usage (as a proxy that ignores `include_usage` does). */
  /** `wordDelayMs`: a stream sends its words that far apart (a model generating slowly but steadily). */
  | { kind: "ok"; text?: string; delayMs?: number; wordDelayMs?: number; finishReason?: string; usage?: false }
  | { kind: "rate_limit"; retryAfterS: number; type?: "requests" | "tokens" }
  | { kind: "error"; status: number; message?: string; type?: string; code?: string }
  | { kind: "server_error" }
  | { kind: "unauthorized" }
  | { kind: "loading" }
  | { kind: "malformed" }
  /** Accepts the request and never answers. */
  | { kind: "hang" }
  /** 200 with an SSE (or, for non-streaming requests, a chunked JSON) body that never ends. */
  | { kind: "stream_forever" }
  /** 200 with an SSE stream of `text`'s words that then stalls: no more chunks, no end. */
  | { kind: "stall"; text: string };

export interface FakeGroqOptions {
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401 invalid_api_key. */
  apiKey?: string;
  requestsPerMinute?: number;
  requestsPerDay?: number;
  tokensPerMinute?: number;
  /** The fake's own clock for its windows (default Date.now). */
  now?: () => number;
  /** Path prefix: "/openai/v1" (Groq, default) or "/v1" (OpenAI, llama-server). */
  prefix?: string;
}

export interface FakeGroq {
  /** Base URL to configure, e.g. `http://127.0.0.1:PORT/openai/v1`. */
  readonly url: string;
  readonly server: RecordingServer;
  readonly requests: RecordedRequest[];
  /** Modes for the next requests, one each, in order; afterwards the default. */
  script(...modes: GroqMode[]): void;
  setDefault(mode: GroqMode): void;
  close(): Promise<void>;
}

function contentOf(json: unknown): { model: string; chars: number; stream: boolean; maxTokens: number } {
  const body = (json ?? {}) as {
    model?: unknown;
    messages?: unknown;
    stream?: unknown;
    max_tokens?: unknown;
  };
  const messages = Array.isArray(body.messages) ? (body.messages as { content?: unknown }[]) : [];
  const chars = messages.reduce((n, m) => n + (typeof m.content === "string" ? m.content.length : 0), 0);
  return {
    model: typeof body.model === "string" ? body.model : "unknown",
    chars,
    stream: body.stream === true,
    maxTokens: typeof body.max_tokens === "number" ? body.max_tokens : 1024,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startFakeGroq(opts: FakeGroqOptions = {}): Promise<FakeGroq> {
  const now = opts.now ?? Date.now;
  const prefix = opts.prefix ?? "/openai/v1";
  const rpm = opts.requestsPerMinute ?? 30;
  const rpd = opts.requestsPerDay ?? 14_400;
  const tpm = opts.tokensPerMinute ?? 6_000;
  // Requests-per-minute bucket: `rpm` at most, refilled at rpm per 60 s.
  let bucket = rpm;
  let bucketAt = now();
  const tokens: { at: number; n: number }[] = [];
  let dayCount = 0;
  const queue: GroqMode[] = [];
  let fallback: GroqMode = { kind: "ok" };
  let seq = 0;

  const rateHeaders = (): Record<string, string> => {
    const t = now();
    while (tokens.length > 0 && t - (tokens[0]?.at ?? t) >= 60_000) tokens.shift();
    const usedTokens = tokens.reduce((n, e) => n + e.n, 0);
    const tokenReset = tokens.length > 0 ? 60_000 - (t - (tokens[0]?.at ?? t)) : 0;
    return {
      "x-ratelimit-limit-requests": String(rpd),
      "x-ratelimit-remaining-requests": String(Math.max(0, rpd - dayCount)),
      "x-ratelimit-reset-requests": goDuration(dayCount * (86_400_000 / rpd)),
      "x-ratelimit-limit-tokens": String(tpm),
      "x-ratelimit-remaining-tokens": String(Math.max(0, tpm - usedTokens)),
      "x-ratelimit-reset-tokens": goDuration(tokenReset),
    };
  };

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...rateHeaders(), ...headers });
    res.end(JSON.stringify(body));
  };

  const errorBody = (message: string, type: string, code?: string) => ({
    error: { message, type, ...(code ? { code } : {}) },
  });

  const rateLimited = (
    res: ServerResponse,
    model: string,
    retryAfterS: number,
    type: "requests" | "tokens",
  ) => {
    const what = type === "requests"
      ? `requests per minute (RPM): Limit ${rpm}, Used ${rpm}, Requested 1`
      : `tokens per minute (TPM): Limit ${tpm}, Used ${tpm}, Requested 100`;
    json(
      res,
      429,
      errorBody(
        `Rate limit reached for model \`${model}\` in organization \`org_fake\` service tier \`on_demand\` on ${what}. ` +
          `Please try again in ${retryAfterS}s. Visit https://console.groq.com/docs/rate-limits for more information.`,
        type,
        "rate_limit_exceeded",
      ),
      { "retry-after": String(retryAfterS) },
    );
  };

  const server = await startRecordingServer(async (req, res) => {
    if (req.method !== "POST" || req.path !== `${prefix}/chat/completions`) {
      return json(
        res,
        404,
        errorBody(`Unknown request URL: ${req.method} ${req.path}`, "invalid_request_error", "unknown_url"),
      );
    }
    if (opts.apiKey !== undefined && req.headers["authorization"] !== `Bearer ${opts.apiKey}`) {
      return json(res, 401, errorBody("Invalid API Key", "invalid_request_error", "invalid_api_key"));
    }
    const mode = queue.shift() ?? fallback;
    const { model, chars, stream, maxTokens } = contentOf(req.json);
    const id = `chatcmpl-${++seq}`;
    switch (mode.kind) {
      case "rate_limit":
        return rateLimited(res, model, mode.retryAfterS, mode.type ?? "requests");
      case "error":
        return json(
          res,
          mode.status,
          errorBody(mode.message ?? "error", mode.type ?? "invalid_request_error", mode.code),
        );
      case "server_error":
        return json(res, 500, errorBody("Internal Server Error", "internal_server_error"));
      case "unauthorized":
        return json(res, 401, errorBody("Invalid API Key", "invalid_request_error", "invalid_api_key"));
      case "loading":
        return json(res, 503, { error: { code: 503, message: "Loading model", type: "unavailable_error" } });
      case "malformed":
        res.writeHead(200, { "content-type": "application/json", ...rateHeaders() });
        return void res.end('{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"mess');
      case "hang":
        return;
      case "stream_forever": {
        res.writeHead(200, {
          "content-type": stream ? "text/event-stream" : "application/json",
          ...rateHeaders(),
        });
        for (let i = 0; !res.destroyed; i++) {
          if (stream) {
            sse(res, {
              id,
              object: "chat.completion.chunk",
              model,
              choices: [{ index: 0, delta: { content: "la " }, finish_reason: null }],
            });
          } else res.write(i === 0 ? '{"id":"' : "a");
          await sleep(20);
        }
        return;
      }
      case "stall": {
        res.writeHead(200, { "content-type": "text/event-stream", ...rateHeaders() });
        for (const word of mode.text.split(/(?<= )/)) {
          sse(res, {
            id,
            object: "chat.completion.chunk",
            model,
            choices: [{ index: 0, delta: { content: word }, finish_reason: null }],
          });
        }
        return;
      }
      case "ok":
        break;
    }
    // The fake's own limits, enforced like Groq's: per-minute requests, per-day requests.
    const t = now();
    bucket = Math.min(rpm, bucket + Math.max(0, t - bucketAt) * rpm / 60_000);
    bucketAt = t;
    if (bucket < 1) {
      return rateLimited(res, model, Math.max(1, Math.ceil((1 - bucket) * 60_000 / rpm / 1000)), "requests");
    }
    if (dayCount >= rpd) return rateLimited(res, model, 60, "requests");
    const promptTokens = Math.ceil(chars / 4) + 8;
    const text = mode.text ?? "Hello from the fake Groq.";
    const completionTokens = Math.min(maxTokens, text.split(/\s+/).length);
    bucket -= 1;
    dayCount++;
    tokens.push({ at: t, n: promptTokens + completionTokens });
    if (mode.delayMs) await sleep(mode.delayMs);
    if (res.destroyed) return;
    const usage = {
      queue_time: 0.01,
      prompt_tokens: promptTokens,
      prompt_time: 0.002,
      completion_tokens: completionTokens,
      completion_time: 0.01,
      total_tokens: promptTokens + completionTokens,
      total_time: 0.012,
    };
    const created = Math.floor(t / 1000);
    const finish = mode.finishReason ?? "stop";
    if (!stream) {
      return json(res, 200, {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [{
          index: 0,
          message: { role: "assistant", content: text },
          logprobs: null,
          finish_reason: finish,
        }],
        ...(mode.usage === false ? {} : { usage }),
        system_fingerprint: "fp_fake",
        x_groq: { id: `req_${seq}` },
      });
    }
    res.writeHead(200, { "content-type": "text/event-stream", ...rateHeaders() });
    const base = { id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_fake" };
    sse(res, {
      ...base,
      choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
      x_groq: { id: `req_${seq}` },
    });
    for (const word of text.split(/(?<= )/)) {
      if (mode.wordDelayMs) await sleep(mode.wordDelayMs);
      if (res.destroyed) return;
      sse(res, {
        ...base,
        choices: [{ index: 0, delta: { content: word }, logprobs: null, finish_reason: null }],
      });
    }
    sse(res, {
      ...base,
      choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }],
      x_groq: { id: `req_${seq}`, ...(mode.usage === false ? {} : { usage }) },
    });
    sse(res, "[DONE]");
    res.end();
  });

  return {
    url: `${server.origin}${prefix}`,
    server,
    requests: server.requests,
    script: (...modes) => void queue.push(...modes),
    setDefault: (mode) => void (fallback = mode),
    close: () => server.close(),
  };
}
