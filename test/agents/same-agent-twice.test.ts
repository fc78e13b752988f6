// The same agent started twice (its systemd unit, and `aideazz agent <name>` or `aideazz up` by hand): the second
// cannot bind the port, and the error names the real mistake (this agent already runs there, with its pid) rather
// than a port clash in the config.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import process from "node:process";
import type { RunningAgent } from "../../src/agents/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-twice-same-")));
afterAll(() => cleanup());

describe("the same agent started twice", () => {
  it("the second start fails naming the agent already running on its port, not the config's ports", async () => {
    const port = await freePort();
    const config = loadConfig(
      JSON.stringify({ store: { url: `file:${join(dir, "same.db")}` }, agents: [{ name: "stats", kind: "analytics", port }] }),
      {},
    );
    const first: RunningAgent = await runTestAgent({ config, name: "stats", secrets: {} });
    try {
      const err = await runTestAgent({ config, name: "stats", secrets: {} }).then(
        async (second) => {
          await second.stop();
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      expect(err, "the second start was refused").toBeInstanceOf(Error);
      expect(err!.message).toBe(
        `agent "stats" already runs on 127.0.0.1:${port} (pid ${process.pid}): stop it (systemctl stop aideazz-agent@stats.service) first`,
      );
    } finally {
      await first.stop();
    }
  });
});
