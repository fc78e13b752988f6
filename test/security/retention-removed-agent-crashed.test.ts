// Replies queued for a channel agent that was removed from the config after its last process died without a clean
// stop (OOM kill, SIGKILL after the stop timeout, a power loss, or a stop whose store write failed): its
// `agent_heartbeats` row keeps `stopped_at` NULL for ever, although it has not been seen for days. Read as "a process
// runs under the name" by the hourly pass (records.ts abandonedReplyTopics) and the turn (checkAgent),
// those replies were never dead-lettered, purged or redacted. A heartbeat not seen for an hour is no running process.
// A real orchestrator on a real store; the replies were published (real bus) while agent "tgold" still existed.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { createSqliteBus, REDACTED_PAYLOAD } from "../../src/bus/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const DAY = 86_400_000;

describe("replies waiting for a removed channel agent whose last process crashed", () => {
  it("are dead-lettered and their text does not outlive retentionDays (heartbeat not seen for days)", async () => {
    const { dir, cleanup } = await tempDir("aideazz-removed-crashed-");
    try {
      const url = `file:${join(dir, "g.db")}`;
      const store = await openStore({ url });
      await migrate(store.client);
      const bus = createSqliteBus(store);
      await bus.subscribe(outboundTopic("tgold"), "egress");
      const text = "Maria, your order to 12 Elm Street ships on Monday.";
      const reply: OutboundReply = {
        agent: "tgold", chatId: "4242", text, inReplyTo: [1], replyKey: "1:answer", kind: "answer",
      };
      const [published] = await bus.publish([{
        topic: outboundTopic("tgold"), key: chatKey("tgold", "4242"), payload: reply as never, idempotencyKey: "reply:0",
      }]);
      const t0 = Date.now() - 3 * DAY;
      await store.client.execute({
        sql: "UPDATE bus_messages SET published_at = ?1, visible_at = ?1 WHERE id = ?2",
        args: [t0, published!.id],
      });
      // "tgold"'s last process was started 4 days ago and last seen 3 days ago; it never recorded a stop (killed).
      await store.client.execute({
        sql: `INSERT INTO agent_heartbeats (agent, pid, version, started_at, seen_at) VALUES ('tgold', 4711, 'old', ?1, ?2)`,
        args: [t0 - DAY, t0],
      });

      const config = loadConfig(JSON.stringify({
        store: { url },
        roles: { support: { kind: "support", systemPrompt: "Support." } },
        agents: [
          { name: "orchestrator", kind: "orchestrator", port: await freePort() },
          { name: "web", kind: "webchat", role: "support", port: await freePort() },
        ],
        conversation: { retentionDays: 1 },
        metrics: { flushIntervalMs: 60_000 },
      }), {});
      const orchestrator = await runTestAgent({ config, name: "orchestrator", secrets: {} });
      const payload = async () =>
        String((await store.client.execute({ sql: "SELECT payload FROM bus_messages WHERE id = ?", args: [published!.id] }))
          .rows[0]?.["payload"]);
      try {
        // Its retention runs at start (the hourly pass included).
        const deadline = Date.now() + 6_000;
        while ((await payload()) !== REDACTED_PAYLOAD && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
        }
        const waiting = await store.client.execute("SELECT count(*) AS n FROM bus_deliveries");
        expect({ payload: await payload() === REDACTED_PAYLOAD ? "redacted" : "kept", waiting: waiting.rows[0]!["n"] })
          .toEqual({ payload: "redacted", waiting: 0 });
      } finally {
        await orchestrator.stop();
        await bus.close();
        store.close();
      }
    } finally {
      await cleanup();
    }
  }, 60_000);
});
