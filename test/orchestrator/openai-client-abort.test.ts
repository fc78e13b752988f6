// A client that hangs up while the provider is still answering: the provider's request is cancelled, the call is
// charged once (its reservation: it may have been billed), nothing stays reserved, and nothing is cached.
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { API_KEY, startHarness } from "./harness.ts";

describe("OpenAI endpoint: a request the client aborts", () => {
  it("cancels the provider request, is charged once and caches nothing", async () => {
    const h = await startHarness({
      router: (url) => ({
        providers: { groq: { kind: "groq", baseUrl: url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 3000 } },
        chain: ["groq"],
        retry: { maxAttempts: 1 },
        budget: { prices: { "llama-3.1-8b-instant": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } }, dailyUsd: 10, lowFraction: 0 },
      }),
    });
    try {
      const api = new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${h.port}/v1`, maxRetries: 0 });
      h.groq.script({ kind: "hang" });
      const ctl = new AbortController();
      const pending = api.chat.completions.create(
        { model: "fast", stream: true, messages: [{ role: "user", content: "Where is my parcel?" }] },
        { signal: ctl.signal },
      );
      await new Promise((r) => setTimeout(r, 300));
      ctl.abort();
      await expect(pending).rejects.toThrow();
      await h.groq.server.waitForClientClosed(1, 1000); // well before the provider's 3 s timeout
      await new Promise((r) => setTimeout(r, 200));
      const rows = (await h.store.client.execute("SELECT spent_micros, reserved_micros FROM router_budget_days")).rows;
      expect(rows.length).toBe(1);
      // input "Where is my parcel?" ≈ 7+4 tokens × $1/M + 400 (maxReplyTokens) × $5/M = 2011 µ$, once.
      expect(Number(rows[0]!["reserved_micros"])).toBe(0);
      expect(Number(rows[0]!["spent_micros"])).toBeGreaterThan(2000);
      expect(Number(rows[0]!["spent_micros"])).toBeLessThan(2100);
      expect((await h.store.client.execute("SELECT count(*) AS n FROM cache_entries")).rows[0]!["n"]).toBe(0);
    } finally {
      await h.close();
    }
  });
});
