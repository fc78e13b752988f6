// The hourly redaction of keyed messages' text (conversation.retentionDays under the 8-day dedup window) finds its
// next chunk through an index of the messages still to redact: through bus_messages_keyed it read every message
// already redacted, ~200 ms of write lock per chunk at 10,000 chats a day.
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { REDACT_KEYED } from "../../src/bus/retention.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

let store: Store | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  store?.close();
  await cleanup?.();
});

it("the redaction's chunks are found through the index of keyed messages not yet redacted", async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir("aideazz-redaction-index-"));
  store = await openStore({ url: `file:${join(dir, "r.db")}` });
  await migrate(store.client);
  const plan = await store.client.execute({ sql: `EXPLAIN QUERY PLAN ${REDACT_KEYED}`, args: [Date.now(), 2_000] });
  const steps = plan.rows.map((r) => String(r["detail"]));
  expect(steps).toContainEqual(expect.stringMatching(/^SEARCH bus_messages USING INDEX bus_messages_unredacted \(published_at<\?\)/));
});
