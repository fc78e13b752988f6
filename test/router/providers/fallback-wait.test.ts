// A provider of the chain that failed with a Retry-After reaching past the turn's deadline can no longer answer the
// turn: the next provider is then the last, and the turn waits for its slot as long as the call still has its
// timeout (src/router/chain.ts), not only the provider's timeout followed by the fallback notice.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeAnthropic, startFakeAnthropic } from "../../fakes/anthropic.ts";
import { type FakeGroq, startFakeGroq } from "../../fakes/groq.ts";
import { ask, harness, KEYS } from "./router-harness.ts";
import { type TestStore, testStore } from "./support.ts";

let ts: TestStore;
let local: FakeGroq;
let claude: FakeAnthropic;
beforeEach(async () => {
  ts = await testStore();
  local = await startFakeGroq({ prefix: "/v1", requestsPerMinute: 10_000 });
  claude = await startFakeAnthropic({ apiKey: KEYS.ANTHROPIC_API_KEY });
});
afterEach(async () => {
  await Promise.all([local.close(), claude.close()]);
  await ts.cleanup();
});

const prices = { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } };

describe("a provider out for longer than the turn is not a fallback", () => {
  it("after Claude's 429 with a Retry-After past the deadline, the turn waits for the busy local model as if it were the last provider", async () => {
    const h = await harness({
      providers: {
        claude: { kind: "anthropic", baseUrl: claude.url, model: "claude-haiku-4-5", apiKeyEnv: "ANTHROPIC_API_KEY" },
        // One call at a time (the llama-cpp default), 700 ms a call, 1 s per-attempt timeout.
        local: { kind: "llama-cpp", baseUrl: local.url, model: "tiny", timeoutMs: 1_000 },
      },
      tiers: { simple: ["local"], complex: ["claude", "local"], "high-value": ["claude", "local"] },
      deadlineMs: 6_000,
      budget: { prices },
    }, { store: ts });
    local.setDefault({ kind: "ok", delayMs: 700 });
    // Anthropic: "rate_limit_error" with retry-after 60 s: Claude cannot be asked again within this 6 s turn.
    claude.script({ kind: "rate_limit", retryAfterS: 60 });

    // Three simple turns hold the local model for ~2.1 s (one after the other).
    const queued = Array.from({ length: 3 }, () => h.router.route({ ...ask(), tier: "simple" }));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    const complex = await h.router.route({ ...ask(), tier: "complex" }).then(
      (r) => ({ ok: true as const, provider: r.decision.provider, attempts: r.decision.attempts }),
      (e: unknown) => ({ ok: false as const, error: e as Error & { attempts?: unknown[] } }),
    );
    const waited = performance.now() - t0;
    await Promise.all(queued);

    expect(claude.requests).toHaveLength(1);
    // With Claude out for 60 s, local is the turn's last provider: it has 6 s and needs ~2.1 s of queue + 0.7 s.
    expect(complex.ok ? complex.provider : `failed after ${Math.round(waited)} ms: ${complex.error.message}`).toBe("local");
  });
});
