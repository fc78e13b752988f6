/**
 * HTTP health probes with a deadline: an agent whose event loop is stalled does not answer, and no answer in
 * time means down. The deadline must exceed the store's busy timeout (5 s), which an agent's /health may wait
 * out while another process holds the write lock.
 *
 * @module
 */

export interface ProbeResult {
  /** False when nothing answered in time (refused, reset, timed out). */
  answered: boolean;
  status?: number;
  body?: unknown;
  /** Why there was no answer, e.g. "no answer within 8 s", "connection refused". */
  error?: string;
  ms: number;
}

export interface ProbeOptions {
  fetch: typeof fetch;
  timeoutMs: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Tries before "no answer" is final (a restarting agent refuses for a moment). Default 2. */
  attempts?: number;
  /** Pause between tries. Default 1 s. */
  retryDelayMs?: number;
}

function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.name === "AbortError") {
    return `no answer within ${Math.round(timeoutMs / 100) / 10} s`;
  }
  // Node: cause.code ECONNREFUSED; Deno: TypeError "fetch failed", the reason in cause.message.
  const code = e.cause?.code;
  if (code === "ECONNREFUSED" || /refused/i.test(`${e.message} ${e.cause?.message}`)) return "connection refused";
  return code ?? e.cause?.message ?? e.message ?? String(err);
}

async function once(url: string, opts: ProbeOptions): Promise<ProbeResult> {
  const started = opts.now();
  try {
    const res = await opts.fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch { /* not JSON: keep the text */ }
    return { answered: true, status: res.status, body, ms: opts.now() - started };
  } catch (err) {
    return { answered: false, error: describe(err, opts.timeoutMs), ms: opts.now() - started };
  }
}

/**
 * GETs `url` with a deadline, retrying a missing answer once.
 *
 * @example
 * ```ts
 * const r = await probe("http://127.0.0.1:8082/health", { fetch, timeoutMs: 8000, now: Date.now, sleep });
 * if (!r.answered) console.log(`down: ${r.error}`);
 * ```
 */
export async function probe(url: string, opts: ProbeOptions): Promise<ProbeResult> {
  const attempts = opts.attempts ?? 2;
  let last: ProbeResult = { answered: false, error: "not tried", ms: 0 };
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await opts.sleep(opts.retryDelayMs ?? 1_000);
    last = await once(url, opts);
    if (last.answered) return last;
  }
  return last;
}

/** Where to reach an agent bound to `host`: a wildcard address is probed on loopback. */
export function probeHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
