// Replies waiting for a channel agent since renamed or removed from the config: nothing consumes
// `outbound.<old name>` any more, so without the orchestrator's hourly pass their deliveries are never done and
// the reply text (which may quote the user) is never redacted or purged. The pass moves those older than an hour
// to the dead letters naming the agent; a dead letter whose message is past retentionDays goes at once. An agent
// whose last process died without a clean stop (OOM, SIGKILL, a power loss) keeps `stopped_at` NULL for ever: a
// heartbeat not seen for an hour is no running process.
// A real orchestrator on a real store; the replies were published (real bus) while agent "tgold" still existed.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chatKey, type OutboundReply, outboundTopic } from "../../src/bus/envelopes.ts";
import { type Bus, createSqliteBus, REDACTED_PAYLOAD } from "../../src/bus/mod.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { runTestAgent } from "../support/agent.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;

type Queued = { agent: string; text: string; age: number };

/**
 * Queues `queued` (each published `age` ago, for chat 4242), runs `before` on the store, starts an orchestrator
 * whose config has only itself and "web" (retentionDays 1) once its first reply is redacted (its retention runs at
 * start), or 8 s, and hands `check` the store, the bus and the payloads in publish order.
 */
async function afterRetention(
  queued: Queued[],
  before: (store: Store) => Promise<void>,
  check: (store: Store, bus: Bus, payloads: string[]) => Promise<void>,
) {
  const { dir, cleanup } = await tempDir("aideazz-retention-removed-agent-");
  try {
    const url = `file:${join(dir, "g.db")}`;
    const store = await openStore({ url });
    await migrate(store.client);
    const bus = createSqliteBus(store);
    for (const agent of new Set(queued.map((q) => q.agent))) await bus.subscribe(outboundTopic(agent), "egress");
    const published = await bus.publish(queued.map(({ agent, text }, i) => {
      const reply: OutboundReply = {
        agent, chatId: "4242", text, inReplyTo: [i + 1], replyKey: `${i + 1}:answer`, kind: "answer",
      };
      const key = chatKey(agent, "4242");
      return { topic: outboundTopic(agent), key, payload: reply as never, idempotencyKey: `reply:${i}` };
    }));
    for (const [i, { age }] of queued.entries()) {
      await store.client.execute({
        sql: "UPDATE bus_messages SET published_at = ?1, visible_at = ?1 WHERE id = ?2",
        args: [Date.now() - age, published[i]!.id],
      });
    }
    await before(store);
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
    const payloads = async () =>
      (await store.client.execute("SELECT payload FROM bus_messages ORDER BY id")).rows.map((r) => String(r["payload"]));
    try {
      const deadline = Date.now() + 8_000;
      while ((await payloads())[0] !== REDACTED_PAYLOAD && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      await check(store, bus, await payloads());
    } finally {
      await orchestrator.stop();
      await bus.close();
      store.close();
    }
  } finally {
    await cleanup();
  }
}

describe("replies waiting for a channel agent removed from the config", () => {
  it("go to the dead letters after an hour, and their text does not outlive retentionDays", async () => {
    // While "tgold" was configured its egress group was subscribed and replies were queued for one chat (a Bot
    // API outage, the agent stopped, …); then the agent was renamed. "web" is still configured.
    const queued = [
      { agent: "tgold", text: "Maria, your order to 12 Elm Street ships on Monday.", age: 3 * DAY },
      { agent: "tgold", text: "Maria, the courier calls before 9.", age: 2 * HOUR },
      { agent: "tgold", text: "Maria, one more thing.", age: 10 * 60_000 },
      { agent: "web", text: "Web reply still to send.", age: 3 * DAY },
    ];
    await afterRetention(queued, async () => {}, async (store, bus, payloads) => {
      const dead = await bus.deadLetters();
      const waiting = await store.client.execute(
        `SELECT d.topic, d.head, m.payload ->> '$.text' AS text
        FROM bus_deliveries d JOIN bus_messages m ON m.id = d.msg_id ORDER BY d.msg_id`,
      );
      expect({
        // Past retentionDays: dead-lettered, then purged and redacted in the same pass.
        payloads: payloads.map((p) => p === REDACTED_PAYLOAD ? "redacted" : JSON.parse(p).text),
        // Within retentionDays: a dead letter `bus dlq list` shows, naming the agent.
        dead: dead.map((d) => ({ topic: d.topic, text: (d.payload as { text: string }).text, error: d.lastError })),
        // Within the hour (a rolling deploy may add the agent back), and a configured agent's: still waiting,
        // the younger one now first in its chat's queue.
        waiting: waiting.rows.map((r) => ({ ...r })),
      }).toEqual({
        payloads: ["redacted", queued[1]!.text, queued[2]!.text, queued[3]!.text],
        dead: [{
          topic: outboundTopic("tgold"),
          text: queued[1]!.text,
          error: 'channel agent "tgold" is not in the config (renamed or removed?): nobody sends its replies',
        }],
        waiting: [
          { topic: outboundTopic("tgold"), head: 1, text: queued[2]!.text },
          { topic: outboundTopic("web"), head: 1, text: queued[3]!.text },
        ],
      });
    });
  }, 60_000);

  it("are dead-lettered and their text does not outlive retentionDays when its last process crashed", async () => {
    const queued = [{ agent: "tgold", text: "Maria, your order to 12 Elm Street ships on Monday.", age: 3 * DAY }];
    // "tgold"'s last process was started 4 days ago and last seen 3 days ago; it never recorded a stop (killed).
    const crashed = async (store: Store) => {
      const seen = Date.now() - 3 * DAY;
      await store.client.execute({
        sql: `INSERT INTO agent_heartbeats (agent, pid, version, started_at, seen_at) VALUES ('tgold', 4711, 'old', ?1, ?2)`,
        args: [seen - DAY, seen],
      });
    };
    await afterRetention(queued, crashed, async (store, _bus, payloads) => {
      const waiting = await store.client.execute("SELECT count(*) AS n FROM bus_deliveries");
      expect({ payload: payloads[0] === REDACTED_PAYLOAD ? "redacted" : "kept", waiting: waiting.rows[0]!["n"] })
        .toEqual({ payload: "redacted", waiting: 0 });
    });
  }, 60_000);
});
