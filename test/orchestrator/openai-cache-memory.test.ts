// Slow (~10 s): the OpenAI endpoint's memory per system prompt. Its cache scope is model + system prompt, so a client
// whose system prompt changes per request (today's date, retrieved documents) makes a scope per request: each must
// not leave a lexical index (~30 KB) in the orchestrator's heap. Heap after forced GC, bounded under half the leak.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { API_KEY, GROQ_KEY, type Harness, startHarness } from "./harness.ts";

setFlagsFromString("--expose_gc");
const gc = runInNewContext("gc") as () => void;

const ANSWER = "Our support team answers within one business day; for urgent matters call the hotline on the contact page.";

describe("OpenAI endpoint: memory per system prompt", () => {
  let h: Harness;
  let groq: FakeGroq; // without the default fake's 30 requests a minute
  beforeAll(async () => {
    groq = await startFakeGroq({ apiKey: GROQ_KEY, requestsPerMinute: 1e6, requestsPerDay: 1e7, tokensPerMinute: 1e9 });
    groq.setDefault({ kind: "ok", text: ANSWER });
    h = await startHarness({
      router: () => ({
        providers: { groq: { kind: "groq", baseUrl: groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 2000 } },
        chain: ["groq"],
        retry: { maxAttempts: 1 },
      }),
    });
  });
  afterAll(async () => {
    await h.close();
    await groq.close();
  });

  /** Heap in use once what the test itself keeps (the fake's recorded requests, the log lines) is let go. */
  const heapUsed = () => {
    groq.requests.length = 0;
    h.logs.length = 0;
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };

  it("a request with a system prompt of its own leaves no lexical index behind", async () => {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${h.port}/v1`, maxRetries: 0 });
    const run = async (n: number, system: (i: number) => string) => {
      for (let i = 0; i < n; i += 10) {
        await Promise.all(Array.from({ length: 10 }, (_, j) =>
          client.chat.completions.create({
            model: "fast",
            messages: [{ role: "system", content: system(i + j) }, { role: "user", content: "How fast does support answer?" }],
          })));
      }
    };
    await run(100, (i) => `Answer briefly. Warm-up ${i}.`); // code paths, connections
    const N = 1000;
    const h0 = heapUsed();
    await run(N, (i) => `Answer briefly. Now: 2026-12-03T10:${String(i % 60).padStart(2, "0")}:00Z, request ${i}.`);
    expect(groq.requests.length).toBe(N); // each a new scope: none served from the cache
    expect((heapUsed() - h0) / N).toBeLessThan(12_000);
  }, 60_000);
});
