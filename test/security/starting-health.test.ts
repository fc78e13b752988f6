// F1: /health while the agent waits for its store is redacted as the running agent's is. A libSQL server behind a
// proxy that answers 503 text/plain quoting the request's Authorization header: the libSQL client puts the whole
// body in its error message, the agent waits for the store, and /health served it.
import { createServer, type Server } from "node:http";
import process from "node:process";
import { afterEach, describe, expect, it } from "vitest";
import { agentKinds, runAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { serve } from "../../src/platform.ts";
import { freePort } from "../support/ports.ts";

const TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJpYXQiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLW9mLXRoZS1saWJzcWwtdG9rZW4";

describe("F1: /health of an agent still waiting for its store", () => {
  let proxy: Server | undefined;
  const stop = new AbortController();
  afterEach(async () => {
    stop.abort(new Error("test over"));
    await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  });

  it("does not serve the libSQL auth token a failing proxy quoted", async () => {
    proxy = createServer((req, res) => {
      res.writeHead(503, { "content-type": "text/plain" });
      res.end(`upstream unavailable; request had authorization: ${req.headers.authorization ?? "(none)"}`);
    });
    await new Promise<void>((r) => proxy!.listen(0, "127.0.0.1", () => r()));
    const address = proxy.address();
    const dbPort = typeof address === "object" && address ? address.port : 0;
    const port = await freePort();
    const env = { LIBSQL_TOKEN: TOKEN };
    const config = loadConfig(
      JSON.stringify({
        store: { url: `http://127.0.0.1:${dbPort}`, authTokenEnv: "LIBSQL_TOKEN" },
        agents: [{ name: "analytics", kind: "analytics", port }],
      }),
      env,
    );
    const agent = config.agents[0]!;
    const lines: string[] = [];
    const started = runAgent({
      agent,
      definition: (await agentKinds[agent.kind]!()) as never,
      config,
      dbUrl: config.store.url,
      dbAuthToken: TOKEN,
      secrets: { LIBSQL_TOKEN: TOKEN },
      log: createLogger({ agent: "analytics", secrets: [TOKEN], write: (l) => lines.push(l) }),
      version: "test",
      now: Date.now,
      fetch: globalThis.fetch.bind(globalThis),
      serve,
      rssBytes: () => 0,
      pid: process.pid,
      signal: stop.signal,
      storeRetry: { minMs: 50, maxMs: 200 },
    }).catch(() => undefined);
    let body = "";
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
      if (!res) continue;
      body = await res.text();
      if (body.includes("waiting for the store")) break;
    }
    stop.abort(new Error("test over"));
    await started;
    expect(body).toContain("waiting for the store"); // the agent did wait, and /health said why
    expect(lines.join("")).not.toContain(TOKEN); // the log line is redacted…
    expect(body).not.toContain(TOKEN); // …the /health body is not
  });
});
