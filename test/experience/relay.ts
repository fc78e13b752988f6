/**
 * A recording relay in front of the REAL llama.cpp server: forwards `POST /v1/chat/completions` unchanged and
 * passes the answer back — a stream event by event, optionally slowed down (`delayMs` between events), so a
 * test can watch a reply being edited, kill a process in the middle of it, or make a turn slow. It records each
 * call: the request's messages and the text deltas llama-server streamed (their concatenation is the model's full
 * output), whether the stream finished, and whether the client hung up. Scripted answers (a 500, an extra delay)
 * apply to the next calls in order.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RelayCall {
  at: number;
  stream: boolean;
  messages: { role: string; content: string }[];
  deltas: string[];
  /** The model's output so far (all deltas, or the non-streamed content). */
  text: string;
  firstDeltaAt: number | undefined;
  endedAt: number | undefined;
  /** llama-server's stream (or answer) arrived completely and was passed on. */
  finished: boolean;
  /** The client closed the connection before the end. */
  aborted: boolean;
}

export type RelayMode = { kind: "ok"; delayMs?: number; startDelayMs?: number } | {
  kind: "error";
  status: number;
};

export interface Relay {
  /** Base URL to configure as the provider's baseUrl (ends in /v1). */
  readonly url: string;
  readonly calls: RelayCall[];
  /** Delay between stream events for calls without a scripted delay. */
  delayMs: number;
  /** Modes for the next calls, one each, in order. */
  script(...modes: RelayMode[]): void;
  /** Completed chat completions (streamed or not). */
  completed(): RelayCall[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function contentOf(data: string): string | undefined {
  try {
    const json = JSON.parse(data) as { choices?: { delta?: { content?: unknown } }[] };
    const c = json.choices?.[0]?.delta?.content;
    return typeof c === "string" ? c : undefined;
  } catch {
    return undefined;
  }
}

export async function startRelay(upstream: string, opts: { delayMs?: number } = {}): Promise<Relay> {
  const calls: RelayCall[] = [];
  const queue: RelayMode[] = [];
  const relay = { delayMs: opts.delayMs ?? 0 };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      const r = await fetch(`${upstream}${req.url ?? "/"}`, { method: req.method ?? "GET" });
      res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json" });
      return void res.end(Buffer.from(await r.arrayBuffer()));
    }
    const json = JSON.parse(body) as { stream?: boolean; messages?: { role: string; content: string }[] };
    const call: RelayCall = {
      at: Date.now(),
      stream: json.stream === true,
      messages: json.messages ?? [],
      deltas: [],
      text: "",
      firstDeltaAt: undefined,
      endedAt: undefined,
      finished: false,
      aborted: false,
    };
    calls.push(call);
    const mode = queue.shift() ?? { kind: "ok" };
    if (mode.kind === "error") {
      res.writeHead(mode.status, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: { message: "scripted failure", type: "server_error" } }));
    }
    const ctrl = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) {
        call.aborted = true;
        ctrl.abort();
      }
    });
    if (mode.startDelayMs) await sleep(mode.startDelayMs);
    const up = await fetch(`${upstream}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: ctrl.signal,
    }).catch(() => undefined);
    if (!up) return void res.destroy();
    if (!call.stream || !up.body) {
      const text = await up.text();
      try {
        const c = (JSON.parse(text) as { choices?: { message?: { content?: string } }[] }).choices?.[0]
          ?.message
          ?.content;
        call.text = c ?? "";
      } catch { /* not JSON: passed on as is */ }
      res.writeHead(up.status, { "content-type": "application/json" });
      res.end(text);
      call.finished = up.ok;
      call.endedAt = Date.now();
      return;
    }
    res.writeHead(up.status, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const delay = mode.delayMs ?? relay.delayMs;
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of up.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end + 2);
          buffer = buffer.slice(end + 2);
          const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim())
            .join("\n");
          const content = data === "[DONE]" ? undefined : contentOf(data);
          if (delay > 0 && content) await sleep(delay);
          if (call.aborted) return;
          if (content) {
            call.deltas.push(content);
            call.text += content;
            call.firstDeltaAt ??= Date.now();
          }
          res.write(event);
        }
      }
      if (buffer !== "") res.write(buffer);
      res.end();
      call.finished = true;
    } catch {
      res.destroy();
    } finally {
      call.endedAt = Date.now();
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    get delayMs() {
      return relay.delayMs;
    },
    set delayMs(ms: number) {
      relay.delayMs = ms;
    },
    script: (...modes) => void queue.push(...modes),
    completed: () => calls.filter((c) => c.finished),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
