// What a provider may bill is what the budget and the quota count: against providers that keep their own bill (real
// HTTP servers speaking Anthropic's and the OpenAI-compatible wire formats), the turns the chain lets through never
// cost more than the configured cap, however the answers end — a stream cut after its 200, an answer without usage,
// text whose tokens the estimate could undercount. (A spend-limit refusal: reliability.test.ts, D3.)
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AllProvidersFailedError } from "../../src/router/errors.ts";
import { ask, harness } from "./providers/router-harness.ts";
import { fakeClock, type TestStore, testStore } from "./providers/support.ts";

let ts: TestStore;
let server: Server | undefined;
beforeEach(async () => (ts = await testStore()));
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  await ts.cleanup();
});

/** Serves `handle` on loopback; the /v1 base URL. */
async function serve(handle: (body: Record<string, unknown>, res: ServerResponse) => void): Promise<string> {
  server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => handle(JSON.parse(raw || "{}"), res));
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

const sse = (res: ServerResponse, event: string | undefined, data: unknown) =>
  res.write(`${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`);

const PRICE = { inputUsdPerMTok: 1, outputUsdPerMTok: 5 };
const usd = (input: number, output: number) => (input * PRICE.inputUsdPerMTok + output * PRICE.outputUsdPerMTok) / 1e6;
const refused = (err: unknown) => expect(err).toBeInstanceOf(AllProvidersFailedError);

const claude = (url: string, dailyUsd: number) =>
  harness({
    providers: { claude: { kind: "anthropic", baseUrl: url, model: "claude-haiku-4-5", apiKeyEnv: "ANTHROPIC_API_KEY" } },
    chain: ["claude"],
    budget: { prices: { "claude-haiku-4-5": PRICE }, dailyUsd, lowFraction: 0 },
    retry: { maxAttempts: 1 },
    breaker: { failureThreshold: 100 }, // every turn reaches Claude
  }, { store: ts });

describe("the budget counts what providers may bill", () => {
  it("a stream cut after its 200 is charged its reservation: the cut streams stay within the cap", async () => {
    let billed = 0;
    let calls = 0;
    const url = await serve((body, res) => {
      calls++;
      res.writeHead(200, { "content-type": "text/event-stream" });
      sse(res, "message_start", {
        type: "message_start",
        message: { id: `m${calls}`, type: "message", role: "assistant", content: [], model: body["model"], usage: { input_tokens: 40, output_tokens: 1 } },
      });
      // 150 tokens generated (and billed) before the connection drops.
      for (let i = 0; i < 150; i++) {
        sse(res, "content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "word " } });
      }
      billed += usd(40, 150);
      setTimeout(() => res.destroy(), 20);
    });
    const dailyUsd = 0.003;
    const h = await claude(url, dailyUsd);
    for (let i = 0; i < 10; i++) await h.router.routeStream(ask(), () => {}).catch(refused);
    const s = await h.router.budget.status();
    expect(calls).toBe(2); // then the reservations of the cut ones fill the cap
    expect(s.dayReservedUsd).toBe(0);
    expect(s.daySpentUsd).toBeGreaterThanOrEqual(billed);
    expect(billed).toBeLessThanOrEqual(dailyUsd);
    // The operator's spend counter (onSettled) counts the failed calls the budget charged too.
    expect(h.charged()).toBeCloseTo(s.daySpentUsd, 9);
  });

  it("a call whose connection is reset after the request left is charged its reservation; a refused one nothing", async () => {
    let billed = 0;
    let calls = 0;
    server = createServer((req) => {
      req.resume();
      req.on("end", () => {
        calls++;
        billed += usd(40, 150); // the provider read the whole request and generated its answer...
        setTimeout(() => req.socket.destroy(), 10); // ...then the connection was reset before the headers
      });
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
    const dailyUsd = 0.003;
    const h = await claude(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, dailyUsd);
    for (let i = 0; i < 10; i++) await h.router.route(ask()).catch(refused);
    const s = await h.router.budget.status();
    expect(calls).toBe(2); // then the reservations of the reset ones fill the cap
    expect(s.daySpentUsd).toBeGreaterThanOrEqual(billed);
    expect(billed).toBeLessThanOrEqual(dailyUsd);
    // Nothing listening: the request never left, nothing is charged.
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const closed = await claude(`http://127.0.0.1:${port}/v1`, 1);
    const before = (await closed.router.budget.status()).daySpentUsd;
    const err = await closed.router.route(ask()).then(() => undefined, (e: unknown) => e);
    expect((err as AllProvidersFailedError).attempts.map((a) => a.reason)).toEqual(["network"]);
    expect((await closed.router.budget.status()).daySpentUsd).toBe(before);
  });

  it("a priced answer that reports no usage is charged its reservation", async () => {
    let calls = 0;
    const url = await serve((body, res) => {
      calls++;
      // A server that ignores stream_options.include_usage (as some proxies do): text, finish, [DONE].
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (let i = 0; i < 150; i++) sse(res, undefined, { model: body["model"], choices: [{ delta: { content: "word " } }] });
      sse(res, undefined, { model: body["model"], choices: [{ delta: {}, finish_reason: "stop" }] });
      res.end("data: [DONE]\n\n");
    });
    const dailyUsd = 0.003;
    const h = await harness({
      providers: { paid: { kind: "openai-compatible", baseUrl: url, model: "gpt-paid" } },
      chain: ["paid"],
      budget: { prices: { "gpt-paid": PRICE }, dailyUsd, lowFraction: 0 },
      retry: { maxAttempts: 1 },
    }, { store: ts });
    for (let i = 0; i < 10; i++) await h.router.routeStream(ask(), () => {}).catch(refused);
    const s = await h.router.budget.status();
    expect(calls).toBe(2);
    expect(calls * usd(0, 150)).toBeLessThanOrEqual(s.daySpentUsd); // ≥ 150 output tokens each were billed
    expect(s.daySpentUsd).toBeLessThanOrEqual(dailyUsd);
  });

  it("CJK text is estimated a token a character: a question that would cost more than the cap is not sent", async () => {
    // Claude's tokenizer gives CJK text about one token per character.
    let billed = 0;
    const url = await serve((body, res) => {
      const messages = body["messages"] as { content: string }[];
      const input = messages.reduce((n, m) => n + [...m.content].length, 0) + String(body["system"] ?? "").length + 5;
      billed += usd(input, 20);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({
        id: "m", type: "message", role: "assistant", model: body["model"], content: [{ type: "text", text: "ok" }],
        stop_reason: "end_turn", usage: { input_tokens: input, output_tokens: 20 },
      }));
    });
    const h = await claude(url, 0.0018);
    await h.router.route(ask("営業時間を教えてください。".repeat(150))).catch(refused); // 1,950 characters
    expect(billed).toBe(0);
    const { response } = await h.router.route(ask("営業時間を教えてください。"));
    expect(response.text).toBe("ok");
    expect((await h.router.budget.status()).daySpentUsd).toBeCloseTo(billed, 9);
  });
});

describe("the quota", () => {
  it("requests estimated over the tokens-per-minute limit use no more than it (and one call's slack)", async () => {
    const clock = fakeClock();
    const at: number[] = [];
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        at.push(clock.now());
        res.writeHead(200, { "content-type": "application/json" }); // no x-ratelimit-* headers
        res.end(JSON.stringify({
          model: "m",
          choices: [{ message: { content: "a long answer" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 20, completion_tokens: 2_980 },
        }));
      });
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const h = await harness({
      providers: { p: { kind: "openai-compatible", baseUrl: url, model: "m", limits: { tokensPerMinute: 6_000 } } },
      chain: ["p"],
    }, { store: ts, now: clock.now, sleep: clock.sleep });
    const start = clock.now();
    // max_tokens 8,192 (an OpenAI client's default): each estimate is over the bucket's limit.
    const request = { messages: [{ role: "user" as const, content: "Write a long essay." }], maxTokens: 8_192 };
    while (clock.now() - start < 60_000) {
      await h.router.route({ request }).catch(() => clock.advance(1_000));
    }
    expect(at.filter((t) => t - start < 60_000).length * 3_000).toBeLessThanOrEqual(6_000 + 3_000);
  });
});
