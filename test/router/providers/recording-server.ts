/**
 * A real HTTP server on 127.0.0.1 for provider fakes: records every request (headers, body), counts requests in
 * flight and connections the client closed before the answer ended (what an aborted request looks like from the
 * server: RELIABILITY D5).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
  /** Date.now() when it arrived. */
  at: number;
}

export type Handler = (
  req: RecordedRequest,
  res: ServerResponse,
  raw: IncomingMessage,
) => void | Promise<void>;

export interface RecordingServer {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  readonly requests: RecordedRequest[];
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Responses whose connection the client closed before they ended. */
  readonly clientClosed: number;
  /** Resolves once `clientClosed` reaches `n`; rejects after `timeoutMs`. */
  waitForClientClosed(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startRecordingServer(handler: Handler): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let clientClosed = 0;
  const closeWaiters = new Set<() => void>();

  const server = createServer((raw, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("close", () => {
      inFlight--;
      if (!res.writableFinished) {
        clientClosed++;
        for (const w of closeWaiters) w();
      }
    });
    const chunks: Buffer[] = [];
    raw.on("data", (c: Buffer) => chunks.push(c));
    raw.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(raw.headers)) if (typeof v === "string") headers[k] = v;
      const rec: RecordedRequest = {
        method: raw.method ?? "",
        path: raw.url ?? "",
        headers,
        body,
        json,
        at: Date.now(),
      };
      requests.push(rec);
      Promise.resolve(handler(rec, res, raw)).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(599).end(String(err));
        else res.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get clientClosed() {
      return clientClosed;
    },
    waitForClientClosed(n, timeoutMs = 5_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (clientClosed >= n) {
            clearTimeout(timer);
            closeWaiters.delete(check);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          closeWaiters.delete(check);
          reject(new Error(`only ${clientClosed} of ${n} connections were closed by the client`));
        }, timeoutMs);
        closeWaiters.add(check);
        check();
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes `event`/`data` SSE frames. */
export function sse(res: ServerResponse, data: unknown, event?: string): void {
  res.write(
    `${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`,
  );
}

/** Go-style duration as Groq and OpenAI send it: "2m59.56s", "7.66s", "120ms". */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const totalS = ms / 1000;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = Math.round((totalS % 60) * 100) / 100;
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${s}s`;
}
