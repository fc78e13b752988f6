import type { z } from "zod";
import { ProviderError } from "../errors.ts";

/**
 * Parses one stream event's data as JSON of the expected shape; anything else is a `malformed` ProviderError
 * naming `what` ("event", "stream chunk").
 */
export function parseSseJson<T>(data: string, schema: z.ZodType<T>, provider: string, status: number, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new ProviderError({ provider, kind: "malformed", status, detail: `${what} is not JSON` });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new ProviderError({ provider, kind: "malformed", status, detail: `unexpected ${what} shape` });
  }
  return parsed.data;
}

/**
 * A Server-Sent Events reader over a fetch body: yields one `{ event, data }` per blank-line-terminated event
 * (several `data:` lines joined with "\n"), ignoring comments (`: keep-alive`) and events whose data is empty
 * (a bare `data:`); an `error:` line makes the event "error". Stopping the iteration cancels the body, which
 * closes the connection.
 *
 * @module
 */

export interface SseEvent {
  event: string | undefined;
  data: string;
}

export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event: string | undefined;
  let data: string[] = [];
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        // A lone "\r" at the end may be the first half of "\r\n": wait for the next piece.
        if (nl === buffer.length - 1 && buffer[nl] === "\r") break;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          // As the WHATWG spec says, an event whose data is empty (a bare `data:`, a proxy's keep-alive) is not
          // dispatched: it is no JSON and would fail the whole answer as malformed.
          const joined = data.join("\n");
          if (joined !== "") yield { event, data: joined };
          event = undefined;
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "data") data.push(text);
        else if (field === "event") event = text;
        else if (field === "error") {
          // llama-server before 2025-09 (PR #16109) reports a failure mid-stream as an `error: {…}` line.
          event = "error";
          data.push(text);
        }
      }
    }
    const joined = data.join("\n");
    if (joined !== "") yield { event, data: joined };
  } finally {
    await reader.cancel().catch(() => {});
  }
}
