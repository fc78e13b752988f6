// RELIABILITY.md C5: channel agents commit ingress with synchronous=FULL (a 2xx is never followed by a resend);
// other agents use NORMAL.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentKinds, runAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { serve } from "../../src/platform.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-sync-")));
afterAll(() => cleanup());

describe("commit durability per agent kind", () => {
  it.each([["webchat", 2], ["analytics", 1]] as const)("%s agents open the store with synchronous=%i", async (kind, level) => {
    const config = loadConfig(JSON.stringify({
      store: { url: `file:${join(dir, `${kind}.db`)}` },
      agents: [{ name: "a", kind, port: await freePort() }],
    }), {});
    const running = await runAgent({
      agent: config.agents[0]!, definition: agentKinds[kind] as never, config, dbUrl: config.store.url, secrets: {},
      log: createLogger({ agent: "a", secrets: [], write: () => {} }), version: "t", now: Date.now, fetch, serve,
      rssBytes: () => 0, pid: 1,
    });
    try {
      const rs = await running.store.client.execute("PRAGMA synchronous");
      expect(Number(Object.values(rs.rows[0]!)[0])).toBe(level);
    } finally {
      await running.stop();
    }
  });

  it("every channel kind asks for full durability", () => {
    for (const kind of ["telegram", "whatsapp", "webchat"] as const) expect(agentKinds[kind]?.synchronous).toBe("full");
  });
});
