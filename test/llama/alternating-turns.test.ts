// The chat templates of Gemma 3 and Mistral take one system message and then turns alternating user/assistant from
// a user's; llama-server answers 400 to anything else. The orchestrator's history does not always alternate: its
// trimming can keep an answer without its question, and a handed-off chat saves each user message and each operator
// /reply as a turn of its own. Against the real server with Gemma 3's template.
import process from "node:process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLlamaCppProvider } from "../../src/router/providers/llama-cpp.ts";
import { llamaAvailable, llamaMissingMessage, type LlamaServer, startLlamaServer } from "../support/llama-server.ts";
import { type Harness, startHarness } from "../orchestrator/harness.ts";
import { OPERATOR, type RolesHarness, startRolesHarness } from "../orchestrator/roles-harness.ts";

const run = llamaAvailable() || process.env.CI === "true";
if (!run) it.skip(`skipped: ${llamaMissingMessage()}`, () => {});

const TEMPLATE = fileURLToPath(new URL("../fixtures/llama/gemma3-chat-template.jinja", import.meta.url));
const REFUSED =
  "Sorry, I can't answer that as it is. Could you ask it in a shorter or simpler way, or send /reset to start over?";

describe.runIf(run)("llama-cpp with Gemma 3's chat template: a history that does not alternate", () => {
  let llama: LlamaServer;
  beforeAll(async () => {
    // --ignore-eos: the tiny random model may otherwise stop at once (an empty answer, another code path).
    llama = await startLlamaServer({ extraArgs: ["--chat-template-file", TEMPLATE, "--ignore-eos"] });
  }, 60_000);
  afterAll(async () => {
    await llama?.stop();
  });

  const localOnly = () => ({
    providers: { local: { kind: "llama-cpp", baseUrl: `${llama.url}/v1`, model: "gemma-3", timeoutMs: 10_000 } },
    chain: ["local"],
    retry: { maxAttempts: 1 },
  });

  describe("history trimmed to maxContextTokens", () => {
    let h: Harness;
    afterEach(async () => {
      await h?.close();
    });

    it("answers the next question when the history kept starts with the bot's answer (its long question trimmed)", async () => {
      h = await startHarness({ router: localOnly, conversation: { maxReplyTokens: 12, maxContextTokens: 200 } });
      // ~300 estimated tokens: more than maxContextTokens, so the next turn keeps only the answer to it.
      const order = `My order details: ${"item SKU-1234 blue size M quantity 2, ".repeat(22)}please check them.`;
      await h.ask("c1", order);
      const [first] = await h.waitForReplies(1, 30_000);
      expect(first!.kind).toBe("answer"); // the first turn (no history) is answered by the local model

      await h.ask("c1", "Can you check the delivery status for me?");
      const replies = await h.waitForReplies(2, 30_000);
      expect(replies[1]!.text).not.toBe(REFUSED);
      expect(replies[1]!.kind).toBe("answer");
    }, 90_000);
  });

  describe("a chat handed to a person and back", () => {
    let h: RolesHarness;
    afterEach(async () => {
      await h?.close();
    });

    it("answers after the paused chat got two user messages in a row and the operator's reply", async () => {
      h = await startRolesHarness({
        roles: {
          support: { kind: "support", systemPrompt: "You are Example Co's support bot. Be brief.", operator: OPERATOR },
        },
        channels: { web: "support" },
        router: localOnly(),
        conversation: { maxReplyTokens: 12 },
      });
      await h.ask("web", "c1", "Do you ship to Canada?");
      await h.waitForReplies(1, 30_000);
      expect(h.replies[0]).toMatchObject({ agent: "web", kind: "answer" });
      await h.ask("web", "c1", "/human");
      await h.waitForReplies(3, 30_000);
      // Paused: both forwarded to the operator and saved as user turns, one after the other.
      await h.ask("web", "c1", "Hello? Is anyone there?");
      await h.waitForReplies(4, 30_000);
      await h.ask("web", "c1", "I also need the invoice for order 1234.");
      await h.waitForReplies(5, 30_000);
      await h.ask(OPERATOR.agent, OPERATOR.chatId, "/reply 1 Hi, this is Ana. Yes, we ship to Canada; invoice sent.");
      await h.waitForReplies(7, 30_000);
      await h.ask(OPERATOR.agent, OPERATOR.chatId, "/resume #1");
      await h.waitForReplies(9, 30_000);
      const roles = (await h.rows("SELECT role FROM conversation_turns WHERE chat = 'web:c1' ORDER BY id"))
        .map((r) => r["role"]);
      expect(roles).toEqual(["user", "assistant", "user", "user", "assistant"]); // /human itself is not saved

      await h.ask("web", "c1", "Thanks! And to Mexico?");
      await h.waitForReplies(10, 30_000);
      const last = h.replies.filter((r) => r.agent === "web").at(-1)!;
      expect(last.text).not.toBe(REFUSED);
      expect(last.kind).toBe("answer");
    }, 120_000);
  });

  it("the provider answers the dialogue the orchestrator builds after a handoff (user, user, assistant, assistant)", async () => {
    const p = createLlamaCppProvider({ name: "local", baseUrl: `${llama.url}/v1` }, { fetch, now: Date.now });
    const res = await p.chat({
      model: "gemma-3",
      maxTokens: 4,
      messages: [
        { role: "system", content: "You are Acme's assistant." },
        { role: "user", content: "Do you ship to Canada?" },
        { role: "assistant", content: "We ship worldwide." },
        { role: "user", content: "Hello? Is anyone there?" },
        { role: "user", content: "I also need my invoice." },
        { role: "assistant", content: "Hi, this is Ana. Yes." },
        { role: "assistant", content: "Invoice sent." },
        { role: "user", content: "Thanks! And to Mexico?" },
      ],
    }, { signal: AbortSignal.timeout(10_000) });
    expect(res.usage.outputTokens).toBe(4);
  });
});
