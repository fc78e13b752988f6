/**
 * A fake Anthropic Messages API as a real HTTP server on 127.0.0.1, following the documented wire format:
 * `POST /v1/messages` with `x-api-key` and `anthropic-version`, a `message` body with text content blocks and
 * `usage.input_tokens/output_tokens`, `anthropic-ratelimit-*` headers (RFC 3339 resets) and `request-id`,
 * typed errors `{"type":"error","error":{"type":...,"message":...},"request_id":...}` including 529
 * `overloaded_error` and 429 `rate_limit_error` with `retry-after`, and the streaming events `message_start`,
 * `content_block_start`, `ping`, `content_block_delta`, `content_block_stop`, `message_delta`, `message_stop`.
 */
import type { ServerResponse } from "node:http";
import {
  type RecordedRequest,
  type RecordingServer,
  sse,
  startRecordingServer,
} from "../router/providers/recording-server.ts";

export type AnthropicMode =
  /** `wordDelayMs`: a stream sends its words that far apart (a model generating slowly but steadily). */
  | { kind: "ok"; text?: string; delayMs?: number; wordDelayMs?: number; stopReason?: string }
  /** 529; with `retryAfterS`, a `retry-after` header (as a proxy or gateway in front may add). */
  | { kind: "overloaded"; retryAfterS?: number }
  | { kind: "rate_limit"; retryAfterS: number }
  | { kind: "server_error" }
  | { kind: "unauthorized" }
  | { kind: "spend_limit" }
  | { kind: "error"; status: number; type: string; message?: string }
  | { kind: "malformed" }
  | { kind: "hang" }
  | { kind: "stream_forever" };

export interface FakeAnthropicOptions {
  apiKey?: string;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  now?: () => number;
}

export interface FakeAnthropic {
  /** Base URL to configure: `http://127.0.0.1:PORT/v1`. */
  readonly url: string;
  readonly server: RecordingServer;
  readonly requests: RecordedRequest[];
  script(...modes: AnthropicMode[]): void;
  setDefault(mode: AnthropicMode): void;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const now = opts.now ?? Date.now;
  const rpm = opts.requestsPerMinute ?? 50;
  const tpm = opts.tokensPerMinute ?? 40_000;
  const queue: AnthropicMode[] = [];
  let fallback: AnthropicMode = { kind: "ok" };
  let seq = 0;
  let used = 0;

  const headers = (): Record<string, string> => {
    const reset = new Date(Math.ceil((now() + 1) / 60_000) * 60_000).toISOString().replace(/\.\d+Z$/, "Z");
    return {
      "request-id": `req_fake_${seq}`,
      "anthropic-ratelimit-requests-limit": String(rpm),
      "anthropic-ratelimit-requests-remaining": String(Math.max(0, rpm - used)),
      "anthropic-ratelimit-requests-reset": reset,
      "anthropic-ratelimit-tokens-limit": String(tpm),
      "anthropic-ratelimit-tokens-remaining": String(Math.max(0, tpm - used * 100)),
      "anthropic-ratelimit-tokens-reset": reset,
      "anthropic-ratelimit-input-tokens-limit": String(tpm),
      "anthropic-ratelimit-input-tokens-remaining": String(Math.max(0, tpm - used * 80)),
      "anthropic-ratelimit-input-tokens-reset": reset,
      "anthropic-ratelimit-output-tokens-limit": String(tpm / 5),
      "anthropic-ratelimit-output-tokens-remaining": String(Math.max(0, tpm / 5 - used * 20)),
      "anthropic-ratelimit-output-tokens-reset": reset,
    };
  };

  const send = (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers(), ...extra });
    res.end(JSON.stringify(body));
  };
  const error = (
    res: ServerResponse,
    status: number,
    type: string,
    message: string,
    extra: Record<string, string> = {},
  ) => send(res, status, { type: "error", error: { type, message }, request_id: `req_fake_${seq}` }, extra);

  const server = await startRecordingServer(async (req, res) => {
    seq++;
    if (req.method !== "POST" || req.path !== "/v1/messages") {
      return error(res, 404, "not_found_error", "Not found");
    }
    // The API takes the key as `x-api-key` (what our provider sends) or, from newer SDKs, as a Bearer token.
    const key = req.headers["x-api-key"] ?? req.headers["authorization"]?.replace(/^Bearer /, "");
    if (opts.apiKey !== undefined && key !== opts.apiKey) {
      return error(res, 401, "authentication_error", "invalid x-api-key");
    }
    if (!req.headers["anthropic-version"]) {
      return error(res, 400, "invalid_request_error", "anthropic-version: header is required");
    }
    const body = (req.json ?? {}) as {
      model?: unknown;
      max_tokens?: unknown;
      messages?: unknown;
      system?: unknown;
      stream?: unknown;
    };
    if (typeof body.max_tokens !== "number" || !Array.isArray(body.messages)) {
      return error(res, 400, "invalid_request_error", "max_tokens: Field required");
    }
    const model = typeof body.model === "string" ? body.model : "unknown";
    const stream = body.stream === true;
    const mode = queue.shift() ?? fallback;
    switch (mode.kind) {
      case "overloaded":
        return error(
          res,
          529,
          "overloaded_error",
          "Overloaded",
          mode.retryAfterS === undefined ? undefined : { "retry-after": String(mode.retryAfterS) },
        );
      case "rate_limit":
        return error(
          res,
          429,
          "rate_limit_error",
          "Number of request tokens has exceeded your per-minute rate limit",
          {
            "retry-after": String(mode.retryAfterS),
          },
        );
      case "server_error":
        return error(res, 500, "api_error", "Internal server error");
      case "unauthorized":
        return error(res, 401, "authentication_error", "invalid x-api-key");
      case "spend_limit":
        return error(
          res,
          400,
          "invalid_request_error",
          "You have reached your specified API usage limits. You will regain access on 2030-01-01 at 00:00 UTC.",
        );
      case "error":
        return error(res, mode.status, mode.type, mode.message ?? mode.type);
      case "malformed":
        res.writeHead(200, { "content-type": "application/json", ...headers() });
        return void res.end("<html><body>502 Bad Gateway</body></html>");
      case "hang":
        return;
      case "stream_forever": {
        res.writeHead(200, {
          "content-type": stream ? "text/event-stream" : "application/json",
          ...headers(),
        });
        for (let i = 0; !res.destroyed; i++) {
          if (stream) {
            sse(
              res,
              { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "la " } },
              "content_block_delta",
            );
          } else res.write(i === 0 ? '{"id":"' : "a");
          await sleep(20);
        }
        return;
      }
      case "ok":
        break;
    }
    used++;
    const messages = body.messages as { content?: unknown }[];
    const chars = messages.reduce((n, m) => n + (typeof m.content === "string" ? m.content.length : 0), 0) +
      (typeof body.system === "string" ? body.system.length : 0);
    const inputTokens = Math.ceil(chars / 4) + 5;
    const text = mode.text ?? "Hello from the fake Claude.";
    const outputTokens = Math.min(body.max_tokens, text.split(/\s+/).length);
    const stopReason = mode.stopReason ?? "end_turn";
    if (mode.delayMs) await sleep(mode.delayMs);
    if (res.destroyed) return;
    const id = `msg_fake_${seq}`;
    if (!stream) {
      return send(res, 200, {
        id,
        type: "message",
        role: "assistant",
        model,
        content: [{ type: "text", text }],
        stop_reason: stopReason,
        stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: outputTokens },
      });
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", ...headers() });
    sse(res, {
      type: "message_start",
      message: {
        id,
        type: "message",
        role: "assistant",
        content: [],
        model,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: 1 },
      },
    }, "message_start");
    sse(
      res,
      { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
      "content_block_start",
    );
    sse(res, { type: "ping" }, "ping");
    for (const word of text.split(/(?<= )/)) {
      if (mode.wordDelayMs) await sleep(mode.wordDelayMs);
      if (res.destroyed) return;
      sse(
        res,
        { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: word } },
        "content_block_delta",
      );
    }
    sse(res, { type: "content_block_stop", index: 0 }, "content_block_stop");
    sse(res, {
      type: "message_delta",
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: outputTokens },
    }, "message_delta");
    sse(res, { type: "message_stop" }, "message_stop");
    res.end();
  });

  return {
    url: `${server.origin}/v1`,
    server,
    requests: server.requests,
    script: (...modes) => void queue.push(...modes),
    setDefault: (mode) => void (fallback = mode),
    close: () => server.close(),
  };
}
