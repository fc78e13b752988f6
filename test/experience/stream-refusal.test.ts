// A streamed turn whose provider breaks after a partial was shown ends the walk with StreamInterruptedError, whose
// `failures` name that one provider only. An in-stream 4xx (`data: {"error":{"code":400,…}}`, kind bad_request) is
// then not "every provider refused the request" (conversation.refusedText, not retried): the turn is retried as a
// whole, as for any broken stream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conversationSchema } from "../../src/agents/orchestrator/config.ts";
import { until } from "../channels/harness.ts";
import { sleep } from "./harness.ts";
import { type Spine, startSpine } from "./spine.ts";
import { type RecordingServer, sse, startRecordingServer } from "../router/providers/recording-server.ts";

const refusedText = conversationSchema.parse({}).refusedText;

describe("a streamed reply broken by an in-stream 4xx after a partial was shown", () => {
  let h: Spine;
  let srv: RecordingServer;
  beforeAll(async () => {
    let calls = 0;
    srv = await startRecordingServer(async (_req, res) => {
      calls++;
      res.writeHead(200, { "content-type": "text/event-stream" });
      const delta = (content: string) =>
        sse(res, { id: "c", object: "chat.completion.chunk", model: "m", choices: [{ index: 0, delta: { content } }] });
      delta("Our plans differ in price and seats. ");
      await sleep(400);
      if (calls === 1) {
        sse(res, { error: { code: 400, message: "the request exceeds the available context size" } });
        res.end();
        return;
      }
      delta("Pro is 20 EUR a month.");
      sse(res, { id: "c", object: "chat.completion.chunk", model: "m", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
      sse(res, "[DONE]");
      res.end();
    });
    h = await startSpine({
      router: (_groq, spare) => ({
        providers: {
          local: { kind: "groq", baseUrl: `${srv.origin}/openai/v1`, model: "local-model", apiKeyEnv: "GROQ_KEY", timeoutMs: 5_000 },
          spare: { kind: "groq", baseUrl: spare, model: "llama-3.3-70b-versatile", apiKeyEnv: "SPARE_KEY", timeoutMs: 5_000 },
        },
        chain: ["local", "spare"],
        retry: { maxAttempts: 1 },
      }),
      conversation: { retryBaseMs: 300 },
    });
    h.spare.setDefault({ kind: "ok", text: "From the spare provider." });
  }, 30_000);
  afterAll(async () => {
    await h?.close();
    await srv?.close();
  });

  it("is not answered as a request every provider refused", async () => {
    const chat = 5501;
    expect(await h.telegram(301, chat, "what is the difference between the plans?")).toBe(200);
    await until(() => h.tg.sent.some((s) => s.chatId === chat), 20_000, "a message");
    await sleep(4_000);
    const finals = h.tg.sent.filter((s) => s.chatId === chat).map((s) => s.text);
    // The partial the user saw ("Our plans differ in price and seats.") is edited into the refusal.
    expect(finals).not.toContain(refusedText);
  }, 60_000);
});
