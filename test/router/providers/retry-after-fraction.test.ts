// A 429 whose `retry-after-ms` has a fraction ("1500.5": OpenAI's SDKs read it with parseFloat) leaves the provider
// out for that long and lets the chain fall back; the block is kept in router_quota.blocked_until, a STRICT INTEGER
// column (a fraction there failed the whole turn with a SqliteError).
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { harness } from "./router-harness.ts";
import { type TestStore, testStore } from "./support.ts";

let ts: TestStore;
const servers: Server[] = [];
beforeEach(async () => (ts = await testStore()));
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  await ts.cleanup();
});

async function serve(handle: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => handle(res));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

const ok = (res: ServerResponse, text: string) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({
    model: "m",
    choices: [{ message: { content: text }, finish_reason: "stop" }],
    usage: { prompt_tokens: 10, completion_tokens: 5 },
  }));
};

describe("a 429 with a fractional retry-after-ms", () => {
  it("falls back to the next provider (and blocks the first) instead of failing the turn with a SqliteError", async () => {
    let firstCalls = 0;
    const first = await serve((res) => {
      firstCalls++;
      res.writeHead(429, { "content-type": "application/json", "retry-after-ms": "1500.5" });
      res.end(JSON.stringify({ error: { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" } }));
    });
    const second = await serve((res) => ok(res, "from the second provider"));
    const h = await harness({
      providers: {
        first: { kind: "openai-compatible", baseUrl: first, model: "m1" },
        second: { kind: "openai-compatible", baseUrl: second, model: "m2" },
      },
      chain: ["first", "second"],
      retry: { maxAttempts: 1 },
    }, { store: ts });
    const messages = [{ role: "user" as const, content: "What are your opening hours?" }];
    const { response } = await h.router.route({ request: { messages, maxTokens: 50 } });
    expect(response.text).toBe("from the second provider");
    // And the first provider is left out of the next turn for its retry-after.
    const again = await h.router.route({ request: { messages, maxTokens: 50 } });
    expect(again.response.text).toBe("from the second provider");
    expect(firstCalls).toBe(1);
  });
});
