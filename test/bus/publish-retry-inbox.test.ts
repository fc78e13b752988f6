// A message whose original retention purged between a publish's INSERT (a duplicate then) and its duplicate lookup
// is published again on a second attempt, and reported fresh: a turn comes for it. The statements committed `after`
// the messages (ingress's chat-inbox row, which names the message this publish stored) run with that attempt too,
// or the fresh message has no inbox row. Real libSQL file; the purge is run at the lookup.
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { inboxInsert } from "../../src/agents/channel/inbox.ts";
import { chatKey, INBOUND_TOPIC, type InboundMessage } from "../../src/bus/envelopes.ts";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { LOOKUP_IDEM } from "../../src/bus/sqlite-sql.ts";
import type { Json } from "../../src/bus/types.ts";
import { type Client, type InStatement, migrate, openStore, type Store } from "../../src/store/mod.ts";
import { newTraceId } from "../../src/trace/mod.ts";
import { tempDir } from "../support/tmp.ts";

let store: Store;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  const tmp = await tempDir("aideazz-publish-retry-");
  cleanup = tmp.cleanup;
  store = await openStore({ url: `file:${join(tmp.dir, "b.db")}` });
  await migrate(store.client);
});
afterEach(async () => {
  store.close();
  await cleanup();
});

const message: InboundMessage = {
  channel: "webchat", agent: "web", chatId: "c1", userId: "c1", platformId: "p1", kind: "text", text: "Hi there",
  sentAt: 1, receivedAt: 1,
};
const idempotencyKey = "webchat:p1";

/** Publishes the message with its inbox row, as ingress does, through `client`. */
async function publish(client: Client) {
  const bus = createSqliteBus({
    client,
    url: store.url,
    path: store.path,
    durableBatch: (stmts) => store.durableBatch(stmts),
    checkpoint: (mode) => store.checkpoint(mode),
    close: () => {},
  });
  const traceId = newTraceId();
  const [result] = await bus.publish([{
    topic: INBOUND_TOPIC, key: chatKey("web", "c1"), payload: message as unknown as Json, idempotencyKey, traceId,
  }], { after: [inboxInsert([{ message, idempotencyKey, traceId }])] });
  await bus.close();
  return result!;
}

it("a message published on the second attempt (its original purged in between) gets its chat-inbox row", async () => {
  await createSqliteBus(store).subscribe(INBOUND_TOPIC, "orchestrator");
  const original = await publish(store.client);
  // Retention purged the inbox row first; the bus message goes just as the resend's lookup runs.
  await store.client.execute("DELETE FROM chat_inbox");
  const racing = new Proxy(store.client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== "execute") return typeof value === "function" ? value.bind(target) : value;
      return async (stmt: InStatement) => {
        if (typeof stmt === "object" && stmt.sql === LOOKUP_IDEM) {
          await target.batch([
            { sql: "DELETE FROM bus_deliveries WHERE msg_id = ?", args: [original.id] },
            { sql: "DELETE FROM bus_messages WHERE id = ?", args: [original.id] },
          ], "write");
        }
        return target.execute(stmt);
      };
    },
  });
  const again = await publish(racing);
  expect(again.duplicate ?? false).toBe(false);
  const inbox = await store.client.execute("SELECT bus_id, state FROM chat_inbox");
  expect(inbox.rows.map((r) => ({ ...r }))).toEqual([{ bus_id: again.id, state: "pending" }]);
});
