// RELIABILITY.md C5: a channel's ingress commit (what a webhook's 2xx or a poller's offset follows) is committed
// with synchronous=FULL; every other commit of every agent uses NORMAL (WAL: survives a process kill).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIngress } from "../../src/agents/channel/mod.ts";
import { type AlsoCommit, createSqliteBus } from "../../src/bus/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { createTracer } from "../../src/trace/mod.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { runTestAgent } from "../support/agent.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-sync-")));
afterAll(() => cleanup());

describe("commit durability", () => {
  it.each(["webchat", "analytics"] as const)("%s agents open the store with synchronous=NORMAL", async (kind) => {
    const config = loadConfig(JSON.stringify({
      store: { url: `file:${join(dir, `${kind}.db`)}` },
      agents: [{ name: "a", kind, port: await freePort() }],
    }), {});
    const running = await runTestAgent({ config, name: "a", secrets: {} });
    try {
      const rs = await running.store.client.execute("PRAGMA synchronous");
      expect(Number(Object.values(rs.rows[0]!)[0])).toBe(1);
    } finally {
      await running.stop();
    }
  });

  it("the ingress commit is one durable publish carrying the channel's rows and the chat inbox rows", async () => {
    const store = await openStore({ url: `file:${join(dir, "ingress.db")}` });
    try {
      await migrate(store.client);
      const bus = createSqliteBus(store);
      const seen: AlsoCommit[] = [];
      const recording = { ...bus, publish: (m: Parameters<typeof bus.publish>[0], also?: AlsoCommit) => {
        seen.push(also ?? {});
        return bus.publish(m, also);
      } };
      const now = () => 1_700_000_000_000;
      const message = {
        channel: "webchat" as const, agent: "web", chatId: "c1", userId: "u1", platformId: "p1", kind: "text" as const,
        text: "hello", sentAt: now(), receivedAt: now(),
      };
      const commit = createIngress({
        bus: recording, tracer: createTracer({ agent: "web", now }), metrics: createMetrics(),
        channel: "webchat", now,
      });
      const result = await commit({ inbound: [{ message, idempotencyKey: "webchat:web:p1" }], outbound: [], rows: [] }, now());
      expect([...result.fresh]).toEqual(["webchat:web:p1"]);
      expect(seen.map((a) => a.durable)).toEqual([true]);
      const inbox = await store.client.execute("SELECT i.bus_id, m.idem_key FROM chat_inbox i JOIN bus_messages m ON m.id = i.bus_id");
      expect(inbox.rows.map((r) => r["idem_key"])).toEqual(["webchat:web:p1"]);
    } finally {
      store.close();
    }
  });
});
