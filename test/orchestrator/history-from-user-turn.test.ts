// The history a turn sends is trimmed to conversation.maxContextTokens one turn at a time, newest
// first (conversation.ts recent()). When the cut falls between a question and its answer, the oldest turn kept is
// an answer without its question, and the request's dialogue starts with an assistant message. Anthropic's Messages
// API refuses that request: 400 invalid_request_error "messages: first message must use the \"user\" role" (as
// reported against the API in 2024: lobehub/lobehub#1601 and PR #5001, chatboxai/chatbox#1288,
// posit-dev/py-shiny#1530), so the history starts with a user's turn. The fake Anthropic does not check the rule:
// a stand-in in front of it does what the API does.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { chatKey, INBOUND_TOPIC, type InboundMessage } from "../../src/bus/envelopes.ts";
import type { Json } from "../../src/bus/mod.ts";
import { inboxInsert } from "../../src/agents/channel/inbox.ts";
import { newTraceId } from "../../src/trace/mod.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic.ts";
import { GROQ_KEY, type Harness, startHarness } from "./harness.ts";

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });

/** Anthropic's own check of the dialogue, in front of the fake: the first message must be the user's. */
async function startStrictAnthropic(fake: FakeAnthropic): Promise<{ url: string; refused: string[][]; server: Server }> {
  const refused: string[][] = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const json = JSON.parse(body) as { messages: { role: string }[] };
    if (json.messages[0]?.role !== "user") {
      refused.push(json.messages.map((m) => m.role));
      res.writeHead(400, { "content-type": "application/json", "request-id": "req_strict" });
      res.end(JSON.stringify({
        type: "error",
        error: { type: "invalid_request_error", message: 'messages: first message must use the "user" role' },
        request_id: "req_strict",
      }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "content-length") headers[k] = v;
    const upstream = await fetch(`${fake.url}/messages`, { method: "POST", headers, body });
    const out: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (k !== "content-length" && k !== "transfer-encoding" && k !== "connection") out[k] = v;
    });
    res.writeHead(upstream.status, out);
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1`, refused, server };
}

let h: Harness;
let n = 0;
/** Stores and publishes a web chat message as the channel's ingress does (bus and chat inbox, one write). */
async function send(chatId: string, text: string) {
  const id = `t${++n}-${Math.random()}`;
  const message: InboundMessage = {
    channel: "webchat", agent: "web", chatId, userId: chatId, platformId: id, kind: "text", text, sentAt: Date.now(), receivedAt: Date.now(),
  };
  const idempotencyKey = `webchat:${id}`;
  const traceId = newTraceId();
  await h.bus.publish([{
    topic: INBOUND_TOPIC, key: chatKey("web", chatId), payload: message as unknown as Json, idempotencyKey, traceId,
  }], { after: [inboxInsert([{ message, idempotencyKey, traceId }])] });
}

it(
  "a short question after three long messages is answered by Claude, not refused because the trimmed history starts with an answer",
  async () => {
    const fake = await startFakeAnthropic({ apiKey: GROQ_KEY });
    closers.push(() => fake.close());
    const strict = await startStrictAnthropic(fake);
    closers.push(() => new Promise<void>((r) => strict.server.close(() => r())));
    h = await startHarness({
      router: () => ({
        providers: { claude: { kind: "anthropic", baseUrl: strict.url, model: "claude-haiku-4-5", apiKeyEnv: "GROQ_KEY", timeoutMs: 5000 } },
        chain: ["claude"],
        budget: { prices: { "claude-haiku-4-5": { inputUsdPerMTok: 1, outputUsdPerMTok: 5 } } },
        retry: { maxAttempts: 1 },
      }),
    });
    closers.push(() => h.close());
    fake.setDefault({ kind: "ok", text: "Thank you, noted." });

    // Three long messages (a customer pasting an order's details, ~600 estimated tokens each, under maxInputChars),
    // each answered; with the default maxContextTokens (1,500) the fourth turn's history is cut inside the first
    // exchange.
    const details = (i: number) => `Order ${i} details: ` + "two blue mugs, one teapot, gift wrapped, deliver after six pm. ".repeat(29);
    for (let i = 1; i <= 3; i++) {
      await send("long", details(i));
      await h.waitForReplies(i, 15_000);
    }
    fake.setDefault({ kind: "ok", text: "Your orders ship on Monday." });
    await send("long", "When will they ship?");
    const replies = await h.waitForReplies(4, 15_000);

    expect(replies.map((r) => r.text)).toEqual(["Thank you, noted.", "Thank you, noted.", "Thank you, noted.", "Your orders ship on Monday."]);
    expect(strict.refused).toEqual([]);
  },
  60_000,
);
