// The real llama-server generating a long answer: streamed, the provider's `timeoutMs` bounds only the wait for its
// first text and each next chunk, so the answer is read to the end; not streamed, the whole answer must come within
// `timeoutMs`, and the same answer does not.
import process from "node:process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AllProvidersFailedError } from "../../src/router/errors.ts";
import { llamaAvailable, llamaMissingMessage, type LlamaServer, startLlamaServer } from "../support/llama-server.ts";
import { ask, harness } from "../router/providers/router-harness.ts";
import { testStore } from "../router/providers/support.ts";

const run = llamaAvailable() || process.env.CI === "true";
if (!run) it.skip(`skipped: ${llamaMissingMessage()}`, () => {});

describe.runIf(run)("timeoutMs and a local model's long answer", () => {
  let llama: LlamaServer;
  beforeAll(async () => {
    llama = await startLlamaServer({ extraArgs: ["--ignore-eos"] });
  }, 60_000);
  afterAll(async () => {
    await llama?.stop();
  });

  it("a long answer streamed is read to the end; not streamed, it is cut at timeoutMs", async () => {
    const ts = await testStore();
    try {
      const h = await harness({
        deadlineMs: 30_000,
        providers: { local: { kind: "llama-cpp", baseUrl: `${llama.url}/v1`, model: "tiny", timeoutMs: 500 } },
        chain: ["local"],
        retry: { maxAttempts: 1 },
      }, { store: ts });
      const turn = { ...ask(), request: { ...ask().request, maxTokens: 1_800 } };
      let updates = 0;
      const { response, decision } = await h.router.routeStream(turn, () => updates++);
      expect(decision.provider).toBe("local");
      expect(response.finishReason).toBe("length");
      expect(response.usage.outputTokens).toBe(1_800);
      expect(updates).toBeGreaterThan(1);
      // Last (llama-server finishes a generation it was cut from only later): the same answer whole, not streamed,
      // takes longer than timeoutMs.
      const cut = await h.router.route(turn).catch((e) => e);
      expect(cut).toBeInstanceOf(AllProvidersFailedError);
      expect((cut as AllProvidersFailedError).failures[0]).toMatchObject({ provider: "local", reason: "timeout" });
    } finally {
      await ts.cleanup();
    }
  }, 60_000);
});
