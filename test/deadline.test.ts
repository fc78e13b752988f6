// Deadlines on HTTP calls (src/deadline.ts) against a server that never answers, with the garbage collector run
// while the call waits: under Node 20 `AbortSignal.any([parent, AbortSignal.timeout(ms)])` with nothing else holding
// the timeout's signal then never fires (the Telegram poller's long poll waited on). The embeddings client (the
// cache's semantic tier) uses the same deadline.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deadline } from "../src/deadline.ts";
import { createEmbedder } from "../src/router/embeddings.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer(() => {}); // takes every request, answers none
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** Runs `call`, collecting garbage while it waits; resolves with how it ended and when. */
async function ended(call: () => Promise<unknown>): Promise<{ name: string; ms: number }> {
  const t0 = Date.now();
  const collect = setInterval(gc, 50);
  try {
    await call();
    return { name: "answered", ms: Date.now() - t0 };
  } catch (err) {
    return { name: (err as Error).name, ms: Date.now() - t0 };
  } finally {
    clearInterval(collect);
  }
}

describe("deadline", () => {
  it("aborts at its time though the garbage collector ran meanwhile", async () => {
    const d = deadline(300, new AbortController().signal);
    const r = await ended(() => fetch(url, { signal: d.signal }).finally(d.clear));
    expect(r.name).toBe("TimeoutError");
    expect(r.ms).toBeLessThan(2_000);
  });

  it("aborts when its parent does", async () => {
    const parent = new AbortController();
    const d = deadline(60_000, parent.signal);
    setTimeout(() => parent.abort(), 200);
    const r = await ended(() => fetch(url, { signal: d.signal }).finally(d.clear));
    expect(r.name).toBe("AbortError");
    expect(r.ms).toBeLessThan(2_000);
  });

  it("the embeddings client gives up at its timeout when a caller's signal is passed too", async () => {
    const embedder = createEmbedder({ baseUrl: url, model: "m", timeoutMs: 300 });
    const r = await ended(() => embedder.embed("hello", new AbortController().signal));
    expect(r.name).toBe("TimeoutError");
    expect(r.ms).toBeLessThan(2_000);
  });
});
