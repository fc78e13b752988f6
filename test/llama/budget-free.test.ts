// "Free local models are never blocked by the budget", whatever their name: prices are keyed by model name, and a
// llama-cpp provider may be named like the paid model it stands in for (llama-server ignores the name).
import process from "node:process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { llamaAvailable, llamaMissingMessage, type LlamaServer, startLlamaServer } from "../support/llama-server.ts";
import { type FakeGroq, startFakeGroq } from "../fakes/groq.ts";
import { ask, harness, KEYS } from "../router/providers/router-harness.ts";
import { testStore } from "../router/providers/support.ts";

const run = llamaAvailable() || process.env.CI === "true";
if (!run) it.skip(`skipped: ${llamaMissingMessage()}`, () => {});

describe.runIf(run)("the budget and a local llama-cpp model", () => {
  let llama: LlamaServer;
  let groq: FakeGroq;
  beforeAll(async () => {
    llama = await startLlamaServer({ extraArgs: ["--ignore-eos"] });
    groq = await startFakeGroq({ apiKey: KEYS.GROQ_API_KEY });
  }, 60_000);
  afterAll(async () => {
    await llama?.stop();
    await groq?.close();
  });

  const configWith = (localModel: string) => ({
    providers: {
      groq: { kind: "groq", baseUrl: groq.url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_API_KEY" },
      local: { kind: "llama-cpp", baseUrl: `${llama.url}/v1`, model: localModel, timeoutMs: 10_000 },
    },
    chain: ["groq", "local"],
    retry: { maxAttempts: 1 },
    // The day's cap cannot pay for another Groq call (Groq's list price for the model).
    budget: { dailyUsd: 0.000001, prices: { "llama-3.1-8b-instant": { inputUsdPerMTok: 0.05, outputUsdPerMTok: 0.08 } } },
  });

  const turn = { ...ask("What are your opening hours?"), request: { ...ask().request, maxTokens: 8 } };

  it("a local model named like the Groq model is still free: it answers once the paid budget is spent", async () => {
    const ts = await testStore();
    try {
      const h = await harness(configWith("llama-3.1-8b-instant"), { store: ts });
      const { decision } = await h.router.route(turn);
      expect(decision.provider).toBe("local");
      expect(decision.costUsd).toBe(0);
    } finally {
      await ts.cleanup();
    }
  }, 60_000);

  it("a local model with a name of its own answers once the paid budget is spent", async () => {
    const ts = await testStore();
    try {
      const h = await harness(configWith("llama-3.1-8b-q4"), { store: ts });
      const { decision } = await h.router.route(turn);
      expect(decision.provider).toBe("local");
      expect(decision.reason).toMatch(/groq budget/);
      expect(decision.costUsd).toBe(0);
    } finally {
      await ts.cleanup();
    }
  }, 60_000);
});
