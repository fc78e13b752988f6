// A server's close lets the requests in flight finish, and then serves nothing more: a client holding a keep-alive
// connection (a browser polling the web chat) must reconnect and find the agent gone or its new process, not have
// its next request answered by the agent that is stopping (Node kept such a connection open and served it).
import { type Agent as HttpAgent, Agent, get } from "node:http";
import { describe, expect, it } from "vitest";
import { serve } from "../src/platform.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fetchOn(agent: HttpAgent, port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    get({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(body));
    }).on("error", (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
  });
}

describe("serve: close", () => {
  it("finishes a request in flight, then serves nothing more on its keep-alive connection", async () => {
    const server = await serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: async (req) => (await sleep(300), new Response(`served ${new URL(req.url).pathname}`)),
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = fetchOn(agent, server.port, "/first");
      await sleep(100);
      const closed = server.close();
      expect(await first).toBe("served /first");
      expect(await fetchOn(agent, server.port, "/next")).toMatch(/^error /);
      await closed;
    } finally {
      agent.destroy();
    }
  });
});
