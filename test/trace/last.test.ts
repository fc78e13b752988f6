// `aideazz trace last` and the dashboard's recent traces are the most recently started ones: an older trace still
// being worked on (a slow provider call that ends after a newer message arrived) hid the newest message's trace when
// the candidates were cut by their latest activity first.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFlushLoop } from "../../src/metrics/mod.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { createTracer, lastTraceIds, recentTraces } from "../../src/trace/mod.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-trace-last-"));
  store = await openStore({ url: `file:${join(dir, "t.db")}` });
  await migrate(store.client);
});
afterAll(async () => {
  store.close();
  await cleanup();
});

const T0 = Date.UTC(2025, 4, 1, 9, 0, 0);

describe("last trace", () => {
  it("is the trace whose message arrived last, even when an older trace had a later event", async () => {
    const now = T0 + 10_000;
    const tracer = createTracer({ agent: "tg", now: () => now });
    const loop = createFlushLoop({ client: store.client, sources: [tracer.source], intervalMs: 1_000, now: () => now });
    const older = "0a".padEnd(32, "0");
    const newer = "0b".padEnd(32, "0");
    // The older message: received at T0, its provider call ends at T0 + 9 s.
    tracer.event(older, "received", {}, { chat: "tg:1", at: T0 });
    tracer.event(older, "provider", { provider: "groq" }, { at: T0 + 9_000 });
    // The newer message: received at T0 + 5 s, waiting since.
    tracer.event(newer, "received", {}, { chat: "tg:2", at: T0 + 5_000 });
    tracer.event(newer, "stored", {}, { at: T0 + 5_002 });
    expect((await loop.flush()).ok).toBe(true);

    expect(await lastTraceIds(store.client, 1)).toEqual([newer]);
    expect((await recentTraces(store.client, 1)).map((t) => t.traceId)).toEqual([newer]);
  });
});
