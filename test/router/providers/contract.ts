/**
 * The conformance test every provider runs (STYLE §2): ok, streaming, 429 + Retry-After, 5xx, malformed body,
 * abort/timeout with the socket closed, caller cancellation, auth error not retriable, no key in messages.
 * A case a subject cannot run is skipped with its reason.
 */
import { describe, expect, it } from "vitest";
import { ProviderError } from "../../../src/router/errors.ts";
import type { ChatChunk, ChatProvider, ChatRequest } from "../../../src/router/providers/types.ts";

export type ContractMode =
  | "ok"
  | "rate_limit_7"
  | "server_error"
  | "malformed"
  | "stream_forever"
  | "unauthorized";

export type ContractCase =
  | "ok"
  | "stream"
  | "rate_limit"
  | "server_error"
  | "malformed"
  | "timeout"
  | "stream_timeout"
  | "cancel"
  | "auth";

export interface ContractSubject {
  provider: ChatProvider;
  model: string;
  /** Makes the next request get this answer (not possible against a real server: skip those cases). */
  script(mode: ContractMode): void;
  /** Requests the server received so far (undefined when it cannot be observed). */
  requestCount(): number | undefined;
  /**
   * Resolves once the server has seen `n` connections closed by the client before the answer ended (a real
   * server: once it stopped generating).
   */
  waitForClientClosed?(n: number): Promise<void>;
  /** The header carrying the key and its value, checked on the first request. */
  keyHeader?: { name: string; value: string; sent(): string | undefined };
  /** The key, which must never appear in an error message. */
  secret?: string;
  close(): Promise<void>;
}

export interface ContractOptions {
  skip?: Partial<Record<ContractCase, string>>;
  /** Per-attempt timeout used by the abort cases (ms). */
  timeoutMs?: number;
}

function request(model: string, maxTokens = 32): ChatRequest {
  return {
    model,
    maxTokens,
    temperature: 0,
    messages: [
      { role: "system", content: "You are a test." },
      { role: "user", content: "Say hello." },
    ],
  };
}

async function collect(it: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

export function runProviderContract(
  name: string,
  make: () => Promise<ContractSubject>,
  opts: ContractOptions = {},
): void {
  const timeoutMs = opts.timeoutMs ?? 300;
  const test = (c: ContractCase, title: string, fn: (s: ContractSubject) => Promise<void>) => {
    const reason = opts.skip?.[c];
    if (reason !== undefined) {
      it.skip(`${title} (skipped: ${reason})`, () => {});
      return;
    }
    it(title, async () => {
      const s = await make();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });
  };

  describe(`provider contract: ${name}`, () => {
    test("ok", "ok: returns the text, usage, model, finish reason, and sends the key", async (s) => {
      s.script("ok");
      const res = await s.provider.chat(request(s.model), { signal: AbortSignal.timeout(10_000) });
      expect(res.text.length).toBeGreaterThan(0);
      expect(res.provider).toBe(s.provider.name);
      expect(res.usage.inputTokens).toBeGreaterThan(0);
      expect(res.usage.outputTokens).toBeGreaterThan(0);
      expect(["stop", "length"]).toContain(res.finishReason);
      expect(res.model.length).toBeGreaterThan(0);
      if (s.requestCount() !== undefined) expect(s.requestCount()).toBe(1);
      if (s.keyHeader) expect(s.keyHeader.sent()).toBe(s.keyHeader.value);
    });

    test("stream", "stream: yields text deltas and one end chunk with usage", async (s) => {
      expect(s.provider.stream).toBeDefined();
      s.script("ok");
      const chunks = await collect(
        s.provider.stream!(request(s.model), { signal: AbortSignal.timeout(10_000) }),
      );
      const deltas = chunks.filter((c) => c.type === "delta");
      const end = chunks.at(-1);
      expect(deltas.length).toBeGreaterThan(0);
      expect(deltas.map((d) => (d.type === "delta" ? d.text : "")).join("").length).toBeGreaterThan(0);
      expect(end?.type).toBe("end");
      if (end?.type === "end") {
        expect(end.usage?.outputTokens).toBeGreaterThan(0);
        expect(["stop", "length"]).toContain(end.finishReason);
      }
      expect(chunks.filter((c) => c.type === "end")).toHaveLength(1);
    });

    test(
      "rate_limit",
      "429 + Retry-After: 7 → retriable rate_limit error with retryAfterMs 7000, no retry inside",
      async (s) => {
        s.script("rate_limit_7");
        const err = await providerError(
          s.provider.chat(request(s.model), { signal: AbortSignal.timeout(10_000) }),
        );
        expect(err).toMatchObject({
          kind: "rate_limit",
          status: 429,
          retriable: true,
          retryAfterMs: 7_000,
          provider: s.provider.name,
        });
        expect(err.tripsBreaker).toBe(false);
        expect(s.requestCount()).toBe(1);
      },
    );

    test("server_error", "5xx → retriable server error that counts for the breaker", async (s) => {
      s.script("server_error");
      const err = await providerError(
        s.provider.chat(request(s.model), { signal: AbortSignal.timeout(10_000) }),
      );
      expect(err.status).toBeGreaterThanOrEqual(500);
      expect(err.retriable).toBe(true);
      expect(err.tripsBreaker).toBe(true);
      expect(s.requestCount()).toBe(1);
    });

    test("malformed", "a 200 whose body is not the format → retriable malformed error", async (s) => {
      s.script("malformed");
      const err = await providerError(
        s.provider.chat(request(s.model), { signal: AbortSignal.timeout(10_000) }),
      );
      expect(err).toMatchObject({ kind: "malformed", retriable: true });
    });

    test(
      "timeout",
      "a body that never ends: the timeout aborts the request and the server sees the socket closed",
      async (s) => {
        s.script("stream_forever");
        const t0 = performance.now();
        const err = await providerError(
          s.provider.chat(request(s.model, 100_000), { signal: AbortSignal.timeout(timeoutMs) }),
        );
        expect(err).toMatchObject({ kind: "timeout", retriable: true, status: 0 });
        expect(performance.now() - t0).toBeLessThan(timeoutMs + 2_000);
        await s.waitForClientClosed?.(1);
      },
    );

    test(
      "stream_timeout",
      "a stream that never ends: the timeout aborts it mid-stream and closes the socket",
      async (s) => {
        s.script("stream_forever");
        const seen: string[] = [];
        const err = await providerError((async () => {
          for await (
            const c of s.provider.stream!(request(s.model, 100_000), {
              signal: AbortSignal.timeout(timeoutMs),
            })
          ) {
            if (c.type === "delta") seen.push(c.text);
          }
        })());
        expect(err).toMatchObject({ kind: "timeout", retriable: true });
        expect(seen.length).toBeGreaterThan(0);
        await s.waitForClientClosed?.(1);
      },
    );

    test(
      "cancel",
      "a caller's abort (not a timeout) is rethrown as is, not turned into a provider failure",
      async (s) => {
        s.script("stream_forever");
        const ctl = new AbortController();
        const reason = new Error("shutting down");
        setTimeout(() => ctl.abort(reason), 100);
        const err = await s.provider.chat(request(s.model, 100_000), { signal: ctl.signal }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBe(reason);
        await s.waitForClientClosed?.(1);
      },
    );

    test(
      "auth",
      "401 → auth error: not retriable, does not trip the breaker, needs an operator, no key in the message",
      async (s) => {
        s.script("unauthorized");
        const err = await providerError(
          s.provider.chat(request(s.model), { signal: AbortSignal.timeout(10_000) }),
        );
        expect(err).toMatchObject({ kind: "auth", status: 401, retriable: false });
        expect(err.tripsBreaker).toBe(false);
        expect(err.needsOperator).toBe(true);
        if (s.secret) expect(err.message).not.toContain(s.secret);
        expect(s.requestCount()).toBe(1);
      },
    );
  });
}
