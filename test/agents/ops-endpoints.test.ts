// An agent's /health details and /metrics go to this machine only: a webhook port is public, and what they show
// (pid, version, memory, the store's errors, traffic counts) is the operator's.
import { Hono } from "hono";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromThisMachine } from "../../src/agents/client-address.ts";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

/** This machine's first non-loopback IPv4 address, if it has one. */
const ownAddress = Object.values(networkInterfaces()).flat().find((i) => i?.family === "IPv4" && !i.internal)?.address;

describe("an agent's /health and /metrics", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let port: number;
  let agent: RunningAgent;
  beforeAll(async () => {
    dir = await tempDir("ops-endpoints-");
    port = await freePort();
    const config = loadConfig(
      JSON.stringify({
        store: { url: `file:${join(dir.dir, "agent.db")}` },
        agents: [{ name: "orchestrator", kind: "orchestrator", port, host: "0.0.0.0" }],
      }),
      {},
    );
    agent = await runTestAgent({ config, name: "orchestrator", secrets: {} });
  });
  afterAll(async () => {
    await agent?.stop();
    await dir?.cleanup();
  });

  const get = (path: string, headers: Record<string, string> = {}, host = "127.0.0.1") =>
    fetch(`http://${host}:${port}${path}`, { headers });

  it("from this machine: every detail, and the metrics", async () => {
    const health = await get("/health");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", agent: "orchestrator", version: "test", db: { ok: true } });
    const metrics = await get("/metrics");
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^aideazz_agent_starts_total 1$/m);
  });

  it.skipIf(!ownAddress)("from this machine to its own network address (the health job, a host bound to it)", async () => {
    const health = await get("/health", {}, ownAddress);
    expect(await health.json()).toMatchObject({ status: "ok", agent: "orchestrator" });
    expect((await get("/metrics", {}, ownAddress)).status).toBe(200);
  });

  it.each([
    ["x-forwarded-for", "203.0.113.9"],
    ["forwarded", "for=203.0.113.9;proto=https"],
    ["x-real-ip", "203.0.113.9"],
  ])("through a reverse proxy (%s): the status alone, and no metrics", async (header, value) => {
    const health = await get("/health", { [header]: value });
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const metrics = await get("/metrics", { [header]: value });
    expect(metrics.status).toBe(403);
    expect(await metrics.text()).not.toContain("aideazz_");
  });
});

describe("fromThisMachine", () => {
  const app = new Hono().get("/", (c) => c.text(String(fromThisMachine(c))));
  const from = (remoteAddr: string | undefined) =>
    Promise.resolve(app.fetch(new Request("http://agent/"), remoteAddr === undefined ? undefined : { remoteAddr }))
      .then((r) => r.text());

  it("a loopback peer, written either way, is this machine; another address or none is not", async () => {
    expect(await from("127.0.0.1")).toBe("true");
    expect(await from("127.0.0.53")).toBe("true");
    expect(await from("::1")).toBe("true");
    expect(await from("::ffff:127.0.0.1")).toBe("true");
    expect(await from("203.0.113.9")).toBe("false");
    expect(await from("::ffff:203.0.113.9")).toBe("false");
    expect(await from("2001:db8::1")).toBe("false");
    expect(await from("")).toBe("false");
    expect(await from(undefined)).toBe("false");
  });

  it("a loopback peer relaying a proxy's header (a known one, or the one the config names) is not", async () => {
    const proxied = new Hono().get("/", (c) => c.text(String(fromThisMachine(c, "x-client"))));
    const ask = (headers: Record<string, string>) =>
      Promise.resolve(proxied.fetch(new Request("http://agent/", { headers }), { remoteAddr: "127.0.0.1" }))
        .then((r) => r.text());
    expect(await ask({})).toBe("true");
    expect(await ask({ "x-client": "203.0.113.9" })).toBe("false");
    expect(await ask({ "cf-connecting-ip": "203.0.113.9" })).toBe("false");
    expect(await ask({ "true-client-ip": "203.0.113.9" })).toBe("false");
  });

  it.skipIf(!ownAddress)("this machine's own network address is this machine", async () => {
    expect(await from(ownAddress)).toBe("true");
    expect(await from(`::ffff:${ownAddress}`)).toBe("true");
  });
});
