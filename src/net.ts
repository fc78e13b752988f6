/**
 * What a failed `fetch` says about the request: whether it can have reached the other side.
 *
 * @module
 */

/** Node's codes of a connection that was never made (undici puts them on the error's `cause`). */
const NOT_CONNECTED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/**
 * True when a fetch error proves the request never left: no connection was made. Anything else (a reset, a socket
 * closed before the answer) may have come after the other side read the whole request and acted on it.
 */
export function neverLeft(err: unknown): boolean {
  // A port the fetch standard blocks (Deno: "Requests to port 9 are blocked"; Node: "bad port"): never connected.
  if (err instanceof Error && /Requests to port \d+ are blocked/.test(err.message)) return true;
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error && cause.message === "bad port") return true;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") return NOT_CONNECTED.has(code);
  // Deno names the stage that failed: "client error (Connect)" comes before anything is written.
  return cause instanceof Error && cause.message.includes("client error (Connect)");
}
