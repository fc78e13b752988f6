/**
 * The Bot API client: grammY's `Api` (typed methods, `GrammyError` with `error_code` and `parameters`), pointed at
 * the configured `apiRoot` and using the injected `fetch`. Tokens never appear in grammY's error messages
 * (`sensitiveLogs` stays off), and we never build a URL ourselves.
 *
 * We import grammY's web build (`grammy/web`): it uses the platform's fetch and AbortSignal. Its Node build
 * loads node-fetch (Deno then prints a `punycode` deprecation warning on every start) and passes a polyfilled
 * AbortSignal that Deno's fetch refuses.
 *
 * @module
 */
import { Api } from "grammy/web";

/** The signal type grammY's typings name (the `abort-controller` polyfill's, shared by the web build's typings). */
type GrammySignal = NonNullable<Parameters<Api["getUpdates"]>[1]>;

/** Passes a native AbortSignal where grammY's typings expect the polyfill's; at run time grammY only listens to it. */
export function toGrammySignal(signal: AbortSignal): GrammySignal {
  return signal as unknown as GrammySignal;
}

/** The Bot API's answer to a token it does not take: 401 when refused, 404 when malformed (or a wrong apiRoot). */
export function isTokenRefused(code: number): boolean {
  return code === 401 || code === 404;
}

export function createTelegramApi(token: string, apiRoot: string, fetchFn: typeof fetch): Api {
  return new Api(token, { apiRoot: apiRoot.replace(/\/+$/, ""), fetch: fetchFn });
}
